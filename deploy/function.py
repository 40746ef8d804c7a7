#!/usr/bin/env python3
"""`make deploy-function`: deploy the session broker with cargo lambda alone (no SAM).

  function.py --secret-arn ARN [--function-name NAME] [--kms-key-arn ARN] [--lambda-dir DIR]

What it does, against the account and region the AWS SDK's usual configuration names
(AWS_PROFILE, AWS_REGION, credentials; AWS_ENDPOINT_URL for a local rehearsal):

1. The execution role `<function>-role`, created or reused and brought to exactly what the
   function needs: AWSLambdaBasicExecutionRole (logs), AWSXRayDaemonWriteAccess (traces),
   and one inline policy allowing `secretsmanager:GetSecretValue` on the one secret, only
   from inside the function (`lambda:SourceFunctionArn`: the role's credentials taken out of
   the function cannot read the key), plus `kms:Decrypt` through Secrets Manager when
   --kms-key-arn is given, `dynamodb:UpdateItem` on QUOTA_TABLE when SESSION_QUOTA and
   QUOTA_TABLE are set in this environment, and with SESSION_STORE_TABLE set,
   `dynamodb:GetItem` and `dynamodb:UpdateItem` on that table and `GetSecretValue` on
   SESSION_SEAL_SECRET_ID (from inside the function only, as for the key). Any other policy
   on that role is removed.
2. `cargo lambda deploy`: the arm64 binary built by `make build`, with the settings in
   Cargo.toml's [package.metadata.lambda.deploy] (provided.al2023, memory, timeout, X-Ray
   tracing, merge_env). A new function gets the whole configuration (defaults of
   docs/contract.md, overridden by any configuration variable set in this environment);
   a redeploy changes only PARSEC_SECRET_ID and the variables set in this environment, and
   keeps everything else the function already has.
3. JSON logs (LoggingConfig), which cargo lambda does not set.

It does not create the API or its authorizer: front the function with the SAM template's
HTTP API, or your own API Gateway with an authorizer. Nothing else may invoke it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
INLINE_POLICY = "read-the-parsec-key"
MANAGED = ("service-role/AWSLambdaBasicExecutionRole", "AWSXRayDaemonWriteAccess")
# The function's variables, from the one list (docs/function-variables.json). A new function
# starts with their defaults, so every setting is visible (and editable) on the function; the
# values in this environment win. PARSEC_SECRET_ID comes from --secret-arn.
VARIABLES = json.loads((ROOT / "docs" / "function-variables.json").read_text())["variables"]
DEFAULTS = {v["name"]: v["default"] for v in VARIABLES if v["default"] is not None}
CONFIGURATION = tuple(v["name"] for v in VARIABLES if v["name"] != "PARSEC_SECRET_ID")
SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:.+$")


def role_policy(secret_arn, kms_key_arn, region, partition, function_arn, quota_table_arn=None,
                session_table_arn=None, seal_secret_arn=None):
    only_here = {"ArnEquals": {"lambda:SourceFunctionArn": function_arn}}
    statements = [{"Sid": "ReadTheParsecKeyOnlyFromTheFunction", "Effect": "Allow",
                   "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn,
                   "Condition": only_here}]
    if quota_table_arn:
        statements.append({"Sid": "CountSessionsInTheQuotaTableOnly", "Effect": "Allow",
                           "Action": "dynamodb:UpdateItem", "Resource": quota_table_arn})
    if session_table_arn and seal_secret_arn:
        statements.append({"Sid": "KeepDeviceSessionsInTheirTableOnly", "Effect": "Allow",
                           "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": session_table_arn})
        statements.append({"Sid": "ReadTheSealSecretOnlyFromTheFunction", "Effect": "Allow",
                           "Action": "secretsmanager:GetSecretValue", "Resource": seal_secret_arn,
                           "Condition": only_here})
    if kms_key_arn:
        suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
        statements.append({"Sid": "DecryptTheParsecKeyThroughSecretsManager", "Effect": "Allow",
                           "Action": "kms:Decrypt", "Resource": kms_key_arn,
                           "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.{suffix}"}}})
    return {"Version": "2012-10-17", "Statement": statements}


def ensure_role(iam, name, policy, partition):
    """Creates or reuses the role and leaves exactly the needed policies on it."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    created = False
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                              Description="Parsec session broker: logs, X-Ray, and reading its one secret")["Role"]["Arn"]
        created = True
    wanted = {f"arn:{partition}:iam::aws:policy/{p}" for p in MANAGED}
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    for extra in attached - wanted:
        iam.detach_role_policy(RoleName=name, PolicyArn=extra)
    for missing in wanted - attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=missing)
    for extra in set(iam.list_role_policies(RoleName=name)["PolicyNames"]) - {INLINE_POLICY}:
        iam.delete_role_policy(RoleName=name, PolicyName=extra)
    iam.put_role_policy(RoleName=name, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy))
    return arn, created


def function_exists(lambda_client, name):
    try:
        lambda_client.get_function_configuration(FunctionName=name)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise


def cargo_lambda_deploy(name, role_arn, env, lambda_dir, new_role):
    argv = ["cargo", "lambda", "deploy", "--binary-name", "bootstrap", "--role", role_arn]
    if lambda_dir:
        argv += ["--lambda-dir", lambda_dir]
    for key, value in sorted(env.items()):
        argv += ["--env-var", f"{key}={value}"]
    argv.append(name)
    # A role IAM has just created can take seconds before Lambda may assume it.
    for attempt in range(8 if new_role else 1):
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        sys.stderr.write(done.stderr)
        if done.returncode == 0:
            print(done.stdout.strip())
            return
        if "cannot be assumed" not in done.stderr + done.stdout:
            break
        time.sleep(2 + attempt * 2)
    raise SystemExit(f"cargo lambda deploy failed ({done.returncode}): {done.stdout.strip()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret-arn", required=True)
    parser.add_argument("--function-name", default="parsec-session-broker")
    parser.add_argument("--kms-key-arn", default="")
    parser.add_argument("--lambda-dir", default="", help="where cargo lambda build put the binary")
    args = parser.parse_args()
    match = SECRET_ARN.match(args.secret_arn)
    if not match:
        raise SystemExit("PARSEC_SECRET_ARN must be the secret's full ARN "
                         "(arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)")
    partition = match.group(1)
    # boto3 reads AWS_DEFAULT_REGION; the AWS SDK for Rust (and cargo lambda) AWS_REGION.
    session = boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
    region = session.region_name
    if not region:
        raise SystemExit("no region: set AWS_REGION (or a profile with a region)")
    iam, lambda_client = session.client("iam"), session.client("lambda")
    account = session.client("sts").get_caller_identity()["Account"]
    # The name is known before the function exists, so the role can name it: no cycle.
    function_arn = f"arn:{partition}:lambda:{region}:{account}:function:{args.function_name}"
    def table_arn(name):
        return name if name.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"

    quota_table = os.environ.get("QUOTA_TABLE") if os.environ.get("SESSION_QUOTA") else None
    quota_table_arn = table_arn(quota_table) if quota_table else None
    session_table = os.environ.get("SESSION_STORE_TABLE")
    seal_secret = os.environ.get("SESSION_SEAL_SECRET_ID")
    if session_table and not seal_secret:
        raise SystemExit("SESSION_STORE_TABLE needs SESSION_SEAL_SECRET_ID: the secret that seals the stored sessions")
    session_table_arn = table_arn(session_table) if session_table else None
    seal_secret_arn = None
    if session_table:
        # A name (not an ARN) matches the name plus the six characters Secrets Manager appends.
        seal_secret_arn = (seal_secret if seal_secret.startswith("arn:")
                           else f"arn:{partition}:secretsmanager:{region}:{account}:secret:{seal_secret}-??????")
    role_name = f"{args.function_name}-role"
    policy = role_policy(args.secret_arn, args.kms_key_arn, region, partition, function_arn, quota_table_arn,
                         session_table_arn, seal_secret_arn)
    role_arn, new_role = ensure_role(iam, role_name, policy, partition)
    print(f"role {role_arn} ({'created' if new_role else 'reused'}): logs, X-Ray, GetSecretValue on the secret "
          f"from {function_arn} only" + (f", UpdateItem on {quota_table_arn}" if quota_table_arn else "")
          + (f", GetItem/UpdateItem on {session_table_arn} and GetSecretValue on {seal_secret_arn}"
             if session_table_arn else ""))

    exists = function_exists(lambda_client, args.function_name)
    env = {} if exists else dict(DEFAULTS)
    env.update({k: os.environ[k] for k in CONFIGURATION if os.environ.get(k)})
    env["PARSEC_SECRET_ID"] = args.secret_arn
    cargo_lambda_deploy(args.function_name, role_arn, env, args.lambda_dir, new_role)

    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=args.function_name)
    lambda_client.update_function_configuration(
        FunctionName=args.function_name,
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=args.function_name)
    conf = lambda_client.get_function_configuration(FunctionName=args.function_name)
    print(f"function {conf['FunctionArn']} ({'updated' if exists else 'created'}): {conf['Runtime']}, "
          f"{','.join(conf.get('Architectures', []))}, {conf['MemorySize']} MB, {conf['Timeout']} s, "
          f"tracing {conf.get('TracingConfig', {}).get('Mode')}")
    print("No API was created: front the function with the SAM template's HTTP API or your own "
          "API Gateway with an authorizer, and grant lambda:InvokeFunction to that API alone.")


if __name__ == "__main__":
    main()
