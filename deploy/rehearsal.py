#!/usr/bin/env python3
"""Rehearses `make deploy-function` (`python -m deploy.function`, on the arm64 binary
`make build` left in target/lambda) against a local AWS (moto, with the AWS managed
policies loaded) and checks what it left, through the Lambda and IAM APIs:

1. deploy into an empty account: the function and its role as README says;
2. an operator changes the configuration on the function (body mode);
3. deploy again: new code, the same role, the operator's configuration kept;
4. deploy with SESSION_STORE_TABLE and SESSION_SEAL_SECRET_ID set: the role gains exactly
   GetItem/UpdateItem on that table and GetSecretValue on that secret (from the function only).

The role's one secret statement must carry `lambda:SourceFunctionArn` naming the function
that was deployed (as Lambda reports its ARN), read back through IAM.

The binary deployed trusts the compiled-in public TLS roots only: the bench's test CA
(`bench/fixtures/tls/root-ca.der`, trusted by `bench/broker` alone) is not in it. And it
links aws-lc built without its CPU jitter entropy (`.cargo/config.toml`; BENCHMARKS.md).

Exits non-zero with the differences when anything is off. Loopback only, bounded in time.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from local import moto
from local.common import FAKE_AWS, ROOT, free_port, stop_tree
from local.report import Report

FUNCTION = "parsec-session-broker"
TEMPLATE_TIMEOUT = 8  # template.yaml's Globals.Function.Timeout


def deploy(env, secret_arn):
    done = subprocess.run([sys.executable, "-m", "deploy.function", "--secret-arn", secret_arn,
                           "--function-name", FUNCTION], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800, stdin=subprocess.DEVNULL)
    print(done.stdout.strip())
    if done.returncode != 0:
        raise SystemExit(f"python -m deploy.function failed ({done.returncode}):\n{done.stderr[-3000:]}")


def role_problems(iam, role_name, secret_arn, function_arn, devices=None):
    """`devices`: (table ARN, seal secret ARN) when SESSION_STORE_TABLE was set for the deploy."""
    problems = []
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    principals = [s.get("Principal") for s in trust["Statement"]]
    if principals != [{"Service": "lambda.amazonaws.com"}]:
        problems.append(f"trust policy principals {principals}")
    attached = sorted(p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"])
    if attached != ["AWSLambdaBasicExecutionRole", "AWSXRayDaemonWriteAccess"]:
        problems.append(f"managed policies {attached}")
    inline = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    if len(inline) != 1:
        return problems + [f"inline policies {inline}"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=inline[0])["PolicyDocument"]
    statements = [(s["Effect"], s["Action"], s["Resource"], s.get("Condition")) for s in document["Statement"]]
    only_from_the_function = {"ArnEquals": {"lambda:SourceFunctionArn": function_arn}}
    expected = [("Allow", "secretsmanager:GetSecretValue", secret_arn, only_from_the_function)]
    if devices:
        table_arn, seal_arn = devices
        expected += [("Allow", ["dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn, None),
                     ("Allow", "secretsmanager:GetSecretValue", seal_arn, only_from_the_function)]
    if statements != expected:
        problems.append(f"inline policy statements {statements}, expected {expected}")
    return problems


ARTIFACT = ROOT / "target/lambda/bootstrap/bootstrap"
BENCH_CA = ROOT / "bench/fixtures/tls/root-ca.der"


def artifact_problems(artifact=ARTIFACT):
    """The bench test CA's RSA modulus (what any embedding of the CA, a certificate or a
    trust anchor, carries) must not be in the release artifact."""
    from cryptography import x509

    if not artifact.exists():
        return [f"{artifact.relative_to(ROOT)} is missing (make build)"]
    modulus = x509.load_der_x509_certificate(BENCH_CA.read_bytes()).public_key().public_numbers().n
    if modulus.to_bytes(256, "big") in artifact.read_bytes():
        return [f"{artifact.relative_to(ROOT)} carries the bench test CA of {BENCH_CA.relative_to(ROOT)}"]
    return []


def jitter_problems(build=ROOT / "target/aarch64-unknown-linux-gnu/release/build"):
    """The aws-lc library the arm64 artifact links (the newest aws-lc-sys build) must hold no
    jitterentropy code (its `jent_` functions), as `.cargo/config.toml` asks."""
    libraries = sorted(build.glob("aws-lc-sys-*/out/libaws_lc_*crypto.a"), key=lambda p: p.stat().st_mtime)
    if not libraries:
        return [f"no aws-lc library under {build.relative_to(ROOT)} (make build)"]
    if b"jent_read_entropy" in libraries[-1].read_bytes():
        return [f"{libraries[-1].relative_to(ROOT)} has jitterentropy in it: "
                "AWS_LC_SYS_NO_JITTER_ENTROPY=1 (.cargo/config.toml) did not reach the build"]
    return []


def template_problems():
    """The SAM path: template.yaml as `sam deploy` turns it into CloudFormation (the SAM
    translator the SAM CLI uses). Every statement of the function's role that grants
    GetSecretValue must carry lambda:SourceFunctionArn naming the function, and every variable
    events/env.json sets must be one the function declares (or `sam local` ignores it)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class ManagedPolicies:
        def load(self):
            return {}

    document = yaml_parse((ROOT / "template.yaml").read_text())
    function = document["Resources"]["SessionBrokerFunction"]["Properties"]
    function["CodeUri"] = "s3://rehearsal/bootstrap.zip"  # what `sam build` + `sam package` put there
    function.pop("CapacityProviderConfig", None)  # an !If the translator cannot read offline
    os.environ.setdefault("AWS_DEFAULT_REGION", FAKE_AWS["AWS_REGION"])
    resources = transform(document, {}, ManagedPolicies())["Resources"]
    role = "SessionBrokerFunctionRole"
    inline = resources[role]["Properties"].get("Policies", [])
    attached = [r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::IAM::RolePolicy" and r["Properties"]["RoleName"] == {"Ref": role}]
    # A conditional statement (`!If [Cond, statement, NoValue]`) is checked as its statement.
    statements = [st["Fn::If"][1] if "Fn::If" in st else st
                  for policy in inline + attached for st in policy["PolicyDocument"]["Statement"]]
    problems = []
    table = {"Fn::GetAtt": ["DeviceSessionTable", "Arn"]}
    on_table = [st for st in statements if st.get("Resource") == table]
    if [sorted(st["Action"]) for st in on_table] != [["dynamodb:GetItem", "dynamodb:UpdateItem"]]:
        problems.append(f"template: the role's statements on DeviceSessionTable are {on_table}, "
                        "expected exactly GetItem and UpdateItem")
    seal = [st for st in statements if st.get("Resource") == {"Ref": "SessionSealSecret"}]
    if [st.get("Action") for st in seal] != ["secretsmanager:GetSecretValue"]:
        problems.append(f"template: the role's statements on SessionSealSecret are {seal}")
    # sam local --env-vars only overrides variables the template declares.
    declared = set(resources["SessionBrokerFunction"]["Properties"]["Environment"]["Variables"])
    local = json.loads((ROOT / "events" / "env.json").read_text())["SessionBrokerFunction"]
    undeclared = sorted(set(local) - declared)
    if undeclared:
        problems.append(f"template: events/env.json sets {undeclared}, which the function does not declare")
    reads = [st for st in statements if "secretsmanager:GetSecretValue" in json.dumps(st.get("Action"))]
    wanted = {"ArnEquals": {"lambda:SourceFunctionArn": {"Fn::GetAtt": ["SessionBrokerFunction", "Arn"]}}}
    if not reads:
        return problems + ["template: no statement of the function's role grants GetSecretValue"]
    return problems + [f"template: {st.get('Sid')} grants GetSecretValue without {wanted}" for st in reads
                       if st.get("Condition") != wanted]


def function_problems(conf, role_arn, secret_arn, expected_env):
    problems = []
    expect = {"Runtime": "provided.al2023", "Architectures": ["arm64"], "MemorySize": 128, "Role": role_arn,
              "TracingConfig": {"Mode": "Active"}}
    for key, value in expect.items():
        if conf.get(key) != value:
            problems.append(f"{key} {conf.get(key)!r}, expected {value!r}")
    if not 1 <= conf.get("Timeout", 0) <= TEMPLATE_TIMEOUT:
        problems.append(f"Timeout {conf.get('Timeout')} not within the template's {TEMPLATE_TIMEOUT} s")
    # moto 5.2 accepts LoggingConfig but does not return it; AWS does. Checked when present.
    logging = conf.get("LoggingConfig")
    if logging is not None and logging.get("LogFormat") != "JSON":
        problems.append(f"LoggingConfig {logging}")
    env = conf.get("Environment", {}).get("Variables", {})
    for key, value in {"PARSEC_SECRET_ID": secret_arn, **expected_env}.items():
        if env.get(key) != value:
            problems.append(f"environment {key}={env.get(key)!r}, expected {value!r}")
    return problems


def main():
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="parsec-broker-deploy-") as logs:
        server = moto.start(port, open(Path(logs) / "moto.log", "wb"), managed_policies=True)
        try:
            env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}
            for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_SECRETS_MANAGER", *[k for k in os.environ
                         if k in ("EXTERNAL_ID_SOURCE", "TRUSTED_CALLERS", "FUNCTION_NAME")]):
                env.pop(name, None)
            aws = boto3.Session(region_name=FAKE_AWS["AWS_REGION"], aws_access_key_id="testing",
                                aws_secret_access_key="testing")
            clients = {s: aws.client(s, endpoint_url=endpoint) for s in ("secretsmanager", "lambda", "iam")}
            secret_arn = clients["secretsmanager"].create_secret(
                Name="parsec/enterprise-api-key", SecretString='{"api_key":"rehearsal"}')["ARN"]
            problems = []

            deploy(env, secret_arn)
            conf = clients["lambda"].get_function_configuration(FunctionName=FUNCTION)
            role_arn = clients["iam"].get_role(RoleName=f"{FUNCTION}-role")["Role"]["Arn"]
            defaults = {"EXTERNAL_ID_SOURCE": "claim", "EXTERNAL_ID_CLAIM": "sub", "PARSEC_WARM_UP": "true",
                        "PARSEC_API_URL": "https://kessel-api.parsecgaming.com"}
            problems += [f"first deploy: {p}" for p in function_problems(conf, role_arn, secret_arn, defaults)]
            function_arn = conf["FunctionArn"]
            problems += [f"first deploy: {p}" for p in role_problems(clients["iam"], f"{FUNCTION}-role", secret_arn,
                                                                      function_arn)]

            # An operator switches to body mode on the function itself.
            operator = {**conf["Environment"]["Variables"], "EXTERNAL_ID_SOURCE": "body",
                        "TRUSTED_CALLERS": "role:arn:aws:iam::123456789012:role/game-backend"}
            clients["lambda"].update_function_configuration(FunctionName=FUNCTION,
                                                            Environment={"Variables": operator})
            first_code = conf["CodeSha256"]

            deploy(env, secret_arn)
            conf = clients["lambda"].get_function_configuration(FunctionName=FUNCTION)
            kept = {"EXTERNAL_ID_SOURCE": "body", "TRUSTED_CALLERS": operator["TRUSTED_CALLERS"],
                    "PARSEC_WARM_UP": "true"}
            problems += [f"second deploy: {p}" for p in function_problems(conf, role_arn, secret_arn, kept)]
            problems += [f"second deploy: {p}" for p in role_problems(clients["iam"], f"{FUNCTION}-role", secret_arn,
                                                                       function_arn)]
            roles = [r["RoleName"] for r in clients["iam"].list_roles()["Roles"] if FUNCTION in r["RoleName"]
                     or r["RoleName"].startswith("cargo-lambda-role")]
            if roles != [f"{FUNCTION}-role"]:
                problems.append(f"roles after two deploys: {roles}")
            functions = [f["FunctionName"] for f in clients["lambda"].list_functions()["Functions"]]
            if functions != [FUNCTION]:
                problems.append(f"functions after two deploys: {functions}")
            print(json.dumps({"code_sha256": [first_code, conf["CodeSha256"]], "role": role_arn,
                              "environment": sorted(conf["Environment"]["Variables"])}))

            # The operator turns on one session per device: the deploy grants what it needs.
            seal_arn = clients["secretsmanager"].create_secret(
                Name="parsec/session-seal", SecretString="rehearsal-seal-secret-of-at-least-32-characters")["ARN"]
            store = {"SESSION_STORE_TABLE": "parsec-device-sessions", "SESSION_SEAL_SECRET_ID": seal_arn}
            deploy({**env, **store}, secret_arn)
            conf = clients["lambda"].get_function_configuration(FunctionName=FUNCTION)
            problems += [f"third deploy: {p}" for p in function_problems(conf, role_arn, secret_arn, store)]
            table_arn = f"arn:aws:dynamodb:{FAKE_AWS['AWS_REGION']}:{function_arn.split(':')[4]}:table/parsec-device-sessions"
            problems += [f"third deploy: {p}" for p in role_problems(clients["iam"], f"{FUNCTION}-role", secret_arn,
                                                                      function_arn, (table_arn, seal_arn))]
        finally:
            stop_tree(server)
    report = Report("deploy rehearsal")
    for p in problems:
        report.fail(p)
    if not problems:
        report.ok("three deploys: the function, its role and the operator's configuration as README says; "
                  "with SESSION_STORE_TABLE the role gains GetItem/UpdateItem on it and the seal secret")
    report.check("target/lambda/bootstrap/bootstrap (the binary deployed) does not carry the bench's test CA: "
                 "it trusts the compiled-in public roots only", artifact_problems())
    report.check("the arm64 build links aws-lc without its CPU jitter entropy (.cargo/config.toml)",
                 jitter_problems())
    report.check("template.yaml: the role reads the key only from inside the function; every variable "
                 "events/env.json sets is declared", template_problems())
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
