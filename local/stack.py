"""Starts the function locally the way Lambda runs it, against local stand-ins.

- moto_server: Secrets Manager (seeded with a demo key) and DynamoDB (the quota table);
- parsec_standin.py: the Parsec stand-in;
- the local issuer's JWKS (local/issuer.py), for a function that re-verifies tokens;
- a Lambda runtime for the function binary, one of:
  - cargo lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`), events
    sent with `cargo lambda invoke`;
  - AWS's Runtime Interface Emulator (`aws-lambda-rie`, shipped in the SAM CLI wheel: the
    binary `sam local invoke` runs inside its container), events POSTed to its invoke URL.

Everything listens on 127.0.0.1 and is stopped on exit, Ctrl-C or failure.
"""

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from . import issuer, moto
from .common import DEMO_KEY, FAKE_AWS, ROOT, free_port, spawn, stop_tree, wait_for_port

SECRET_ID = "parsec/enterprise-api-key"
# The demo secret and a few broken ones, for the end-to-end fault scenarios.
SEEDED_SECRETS = {
    SECRET_ID: json.dumps({"api_key": DEMO_KEY}),
    "parsec/plain-string-key": DEMO_KEY,
    "parsec/no-key-field": json.dumps({"key": DEMO_KEY}),
    "parsec/revoked-key": json.dumps({"api_key": "revoked-key-0000"}),
}
QUOTA_TABLE = "parsec-session-quotas"
# One session per device: the store's table and its seal secret (at least 32 characters).
SESSION_TABLE = "parsec-device-sessions"
SEAL_SECRET_ID = "parsec/session-seal"
SEAL_SECRET = "local-seal-secret-4f1e9a7c2b8d6e0f3a5c7e9b1d3f5a7c"


RUNNERS = ("cargo-lambda", "rie")


def seed(call):
    """The demo secrets, the seal secret, the quota table and the session table, through
    `call(service, target, payload)` to moto."""
    for name, value in {**SEEDED_SECRETS, SEAL_SECRET_ID: SEAL_SECRET}.items():
        call("secretsmanager", "secretsmanager.CreateSecret", {"Name": name, "SecretString": value})
    # The tables as the template creates them (the function never creates tables).
    for table in (QUOTA_TABLE, SESSION_TABLE):
        call("dynamodb", "DynamoDB_20120810.CreateTable", {
            "TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        call("dynamodb", "DynamoDB_20120810.UpdateTimeToLive", {
            "TableName": table,
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}})


def rie_path():
    """The Runtime Interface Emulator the SAM CLI wheel ships, for this machine's architecture."""
    import samcli  # from .venv, installed by the Makefile

    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    path = Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{arch}"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


class Stack:
    def __init__(self, binary, log_dir, runner="cargo-lambda"):
        if runner not in RUNNERS:
            raise ValueError(f"runner must be one of {RUNNERS}")
        self.runner = runner
        self.binary = Path(binary)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self.function = None
        self.function_log = None

    def spawn(self, name, argv, env=None):
        proc = spawn(argv, open(self.log_dir / f"{name}.log", "wb"), env=env, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def start(self):
        self.moto_port, self.parsec_port, self.rt_port = free_port(), free_port(), free_port()
        self.jwks_port = free_port()
        self.jwks_server = issuer.serve_jwks(self.jwks_port)
        self.procs.append(moto.start(self.moto_port, open(self.log_dir / "moto.log", "wb")))
        parsec = self.spawn("parsec", [sys.executable, "-m", "local.parsec_standin", str(self.parsec_port)],
                            env={**os.environ, "STANDIN_KEYS": DEMO_KEY})
        if self.runner == "cargo-lambda":
            emulator = self.spawn("runtime-api", ["cargo", "lambda", "watch", "--only-lambda-apis",
                                                  "-A", "127.0.0.1", "-P", str(self.rt_port)])
            wait_for_port(self.rt_port, "cargo lambda's Runtime API", emulator, timeout=60)
        wait_for_port(self.parsec_port, "the Parsec stand-in", parsec)
        self.seed_secret()
        return self

    def seed_secret(self):
        seed(self.moto_call)

    def moto_call(self, service, target, payload):
        return moto.call(self.moto_port, service, target, payload)

    def function_env(self, overrides=None):
        """The function's environment: the stand-ins' endpoints, fake credentials, `overrides`."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            **FAKE_AWS,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{self.moto_port}",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{self.moto_port}",
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.rt_port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "PARSEC_SECRET_ID": SECRET_ID,
            "PARSEC_API_URL": f"http://127.0.0.1:{self.parsec_port}",
            "AWS_LAMBDA_LOG_LEVEL": "trace",
        }
        overrides = dict(overrides or {})
        if overrides.get("JWT_ISSUER") == issuer.ISSUER:  # the local issuer: its JWKS is here
            overrides.setdefault("JWT_JWKS_URL", issuer.function_settings(self.jwks_port)["JWT_JWKS_URL"])
        env.update(overrides)
        return env

    def start_function(self, overrides=None, name="function"):
        """(Re)starts the function binary with the given configuration."""
        name = f"{name}-{len(self.procs)}"
        self.stop_function()
        self.function_log = self.log_dir / f"{name}.log"
        if self.runner == "rie":
            # The RIE runs the binary itself (Init on the first invoke) and sets
            # AWS_LAMBDA_RUNTIME_API; both of its addresses stay on loopback.
            env = self.function_env(overrides)
            del env["AWS_LAMBDA_RUNTIME_API"]
            self.rie_port = free_port()
            argv = [str(rie_path()), "--runtime-interface-emulator-address", f"127.0.0.1:{self.rie_port}",
                    "--runtime-api-address", f"127.0.0.1:{free_port()}", str(self.binary.resolve())]
            self.function = self.spawn(name, argv, env=env)
            wait_for_port(self.rie_port, "the Runtime Interface Emulator", self.function)
            return
        self.function = self.spawn(name, [str(self.binary)], env=self.function_env(overrides))
        time.sleep(0.3)
        if self.function.poll() is not None:
            raise RuntimeError(f"the function exited at start-up:\n{self.function_log.read_text(errors='replace')}")

    def start_rie_workers(self, overrides, count):
        """`count` copies of the function, each under its own Runtime Interface Emulator and so each
        serving one invocation at a time, as separate Lambda execution environments do. Returns
        their invoke ports (pass one to `invoke_rie`)."""
        env = self.function_env(overrides)
        del env["AWS_LAMBDA_RUNTIME_API"]
        workers = []
        for n in range(count):
            port = free_port()
            argv = [str(rie_path()), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                    "--runtime-api-address", f"127.0.0.1:{free_port()}", str(self.binary.resolve())]
            workers.append((port, self.spawn(f"function-{n}", argv, env=env)))
        for port, proc in workers:
            wait_for_port(port, "the Runtime Interface Emulator", proc)
        self.function_log = self.log_dir / "function-0.log"
        return [port for port, _ in workers]

    def start_up_failure(self, overrides):
        """Runs the binary with a bad configuration; returns (exit code, its output)."""
        proc = subprocess.run([str(self.binary)], env=self.function_env(overrides), capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout + proc.stderr

    def stop_function(self):
        if self.function:
            stop_tree(self.function)  # the RIE and the binary it started
        self.function = None

    def invoke(self, event_path):
        """Sends one event the way the runner's users do; returns the API Gateway response."""
        if self.runner == "rie":
            return self.invoke_rie(Path(event_path).read_bytes())
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(self.rt_port), "--data-file", str(event_path)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"invoke failed for {event_path}: {out.stderr.strip() or out.stdout.strip()}")
        return json.loads(out.stdout)

    def invoke_event(self, event, name="event.json"):
        """Sends an event built at run time (a freshly signed token, say)."""
        path = self.log_dir / f"sent-{name}"
        path.write_text(json.dumps(event))
        return self.invoke(path)

    def invoke_rie(self, event, port=None):
        """POSTs the event (JSON bytes) to the RIE's invoke URL, as `sam local invoke` does."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{port or self.rie_port}/2015-03-31/functions/function/invocations",
            data=event, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def parsec_stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.parsec_port}/_stats", timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        for proc in reversed(self.procs):
            stop_tree(proc)
        if getattr(self, "jwks_server", None):
            self.jwks_server.shutdown()


@contextmanager
def running_stack(binary, log_dir, runner="cargo-lambda"):
    stack = Stack(binary, log_dir, runner)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield stack.start()
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
