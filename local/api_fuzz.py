#!/usr/bin/env python3
"""Schemathesis, an outside OpenAPI tester, against `make dev`, as part of `make test`:

  python -m local.api_fuzz BINARY

Starts what `make dev` runs (`python -m local.dev BINARY PORT`, JWT front door and the real
function) on a free loopback port, mints a token of the local issuer for `user-42`, and runs
`schemathesis run docs/openapi.yaml` against it with that token: its default checks (server
errors, status codes, content types, headers, schema conformance, response time, …) except
`unsupported_method`, which expects `405` where API Gateway answers `404` for methods it has no
route for (docs/openapi.yaml says why). Bounded in examples and time so it fits the CI budget.
Any failure fails the run; the figures (operations, test cases, checks) are printed.
"""

import os
import signal
import subprocess
import sys
import tempfile

from . import dev as local_dev
from .common import ROOT, free_port, stop_tree

MAX_EXAMPLES = os.environ.get("API_FUZZ_EXAMPLES", "100")
MAX_TIME = os.environ.get("API_FUZZ_SECONDS", "90")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m local.api_fuzz BINARY")
    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="make-dev-", suffix=".log") as out:
        dev = local_dev.start(sys.argv[1], port, out)
        try:
            token = subprocess.run([sys.executable, "-m", "local.mint_token", "--sub", "user-42"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60, check=True).stdout.strip()
            argv = [str(ROOT / ".venv" / "bin" / "schemathesis"), "run", str(ROOT / "docs" / "openapi.yaml"),
                    "--url", f"http://127.0.0.1:{port}", "--header", f"Authorization: Bearer {token}",
                    "--exclude-checks", "unsupported_method", "--max-examples", MAX_EXAMPLES,
                    "--max-time", MAX_TIME, "--max-response-time", "5", "--request-timeout", "10",
                    "--workers", "2", "--seed", "20261202", "--no-color"]
            env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                                  stdin=subprocess.DEVNULL)
            output = done.stdout + done.stderr
            print(output.replace(token, "<token>"))
            return done.returncode
        finally:
            stop_tree(dev, signal.SIGINT, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
