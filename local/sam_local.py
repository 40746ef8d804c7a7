#!/usr/bin/env python3
"""`make invoke` with Docker, and `make sam-check`: the function under `sam local`, the way its
users run it, against the stand-ins of `make standins` on the Docker network they create.

  python -m local.sam_local invoke EVENT     one `sam local invoke`, the stand-ins up around it
  python -m local.sam_local check            `sam build`, then every sample event through
                                             `sam local invoke` and a few requests through
                                             `sam local start-api`, each answer checked
                                             against the contract as the end-to-end run does

SAM_FLAGS (environment) is added to every `sam local` command: `--skip-pull-image` on a
machine that cannot pull AWS's Lambda base image (real users pull it). Without a Docker
daemon it says so and exits non-zero. Loopback and the network it creates only.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import FAKE_AWS, ROOT, free_port, spawn, stop_tree, wait_for_port
from .report import Report
from .run import shape_problems, show
from .scenarios import SCENARIOS
from .standins import NETWORK, docker_ready, endpoints, running

SAM = str(ROOT / ".venv" / "bin" / "sam")
HOST = endpoints()[0]
FUNCTION = "SessionBrokerFunction"
# events/env.json configures claim mode without a quota or re-verification: the answers the
# end-to-end run expects there.
CLAIM_MODE = next(cases for title, env, cases in SCENARIOS if not env)


# SAM reaches the emulator in the container through a published port. On 127.0.0.1 Docker's
# userland proxy accepts the connection before the emulator listens (it takes about a second
# under qemu) and then drops it; SAM's three quick retries end first and it reports a timeout.
# Published on this machine's address on the network instead, the port is reached through
# Docker's own forwarding, refuses until the emulator listens, and SAM's wait for the socket works.
CONTAINER_HOST = ["--container-host", HOST, "--container-host-interface", HOST]


def sam_env():
    # SAM hands these credentials to the container; moto accepts any.
    return {**os.environ, **FAKE_AWS, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": FAKE_AWS["AWS_REGION"]}


def flags():
    return shlex.split(os.environ.get("SAM_FLAGS", ""))


def sam_invoke(event_path, timeout=300):
    """One `sam local invoke`; (the function's answer or None, SAM's output)."""
    argv = [SAM, "local", "invoke", FUNCTION, "--docker-network", NETWORK, "-e", str(event_path),
            "--env-vars", str(ROOT / "events" / "env.json"), *CONTAINER_HOST, *flags()]
    done = subprocess.run(argv, cwd=ROOT, env=sam_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    answer = None
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            answer = json.loads(line)
            break
        except ValueError:
            continue
    return answer, done.stdout + done.stderr


def need_docker(what):
    if docker_ready():
        return True
    print(f"{what}: no Docker daemon answers `docker info`. This runs the function the way `sam local` does, "
          "in a container; without Docker use `make invoke` (it falls back to the same emulator, aws-lambda-rie, "
          "run directly) or `make dev`.", file=sys.stderr)
    return False


def invoke(event):
    with tempfile.TemporaryDirectory(prefix="parsec-broker-sam-") as logs, running(logs):
        answer, output = sam_invoke(ROOT / "events" / event)
        sys.stderr.write(output)
        if answer is None:
            return 1
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def start_api_checks(report, logs):
    """`sam local start-api`, then a few requests with curl's equivalent."""
    port = free_port()
    argv = [SAM, "local", "start-api", "--docker-network", NETWORK, "--env-vars",
            str(ROOT / "events" / "env.json"), "--host", "127.0.0.1", "--port", str(port),
            # SAM local runs no JWT authorizer, and cannot read the route's conditional AuthorizerId.
            "--disable-authorizer", *CONTAINER_HOST, *flags()]
    api = spawn(argv, open(Path(logs) / "start-api.log", "wb"), env=sam_env(), cwd=ROOT)
    try:
        wait_for_port(port, "sam local start-api", api, timeout=120)
        cases = [
            # No authorizer runs, so the event names nobody: the function's own 401.
            ("POST /sessions, {}", "POST", "/sessions", b"{}", "application/json", (401,)),
            ("POST /sessions, text/plain", "POST", "/sessions", b"x", "text/plain", (401,)),
            ("GET /sessions (no such route)", "GET", "/sessions", None, None, (403, 404, 405)),
        ]
        for what, method, path, body, media, allowed in cases:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
            if media:
                request.add_header("Content-Type", media)
            started = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=180) as response:
                    status, headers, text = response.status, response.headers, response.read().decode()
            except urllib.error.HTTPError as e:
                status, headers, text = e.code, e.headers, e.read().decode()
            took = time.monotonic() - started
            problems = [] if status in allowed else [f"status {status}, expected one of {allowed}"]
            if path == "/sessions" and method == "POST":
                for name, value in (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                    ("Pragma", "no-cache"), ("X-Content-Type-Options", "nosniff")):
                    if headers.get(name) != value:
                        problems.append(f"header {name}={headers.get(name)!r}")
            report.check(f"start-api {what:32} {status} {text[:120]} ({took:.1f} s)", problems)
    finally:
        stop_tree(api)


def check():
    report = Report("sam-check")
    started = time.monotonic()
    build = subprocess.run([SAM, "build"], cwd=ROOT, env=sam_env(), capture_output=True, text=True, timeout=3600,
                           stdin=subprocess.DEVNULL)
    if build.returncode != 0:
        report.fail("sam build", build.stdout.splitlines()[-20:] + build.stderr.splitlines()[-20:])
        return report.finish()
    report.ok(f"sam build ({time.monotonic() - started:.0f} s)")
    with tempfile.TemporaryDirectory(prefix="parsec-broker-sam-check-") as logs, running(logs):
        for event, status, code in CLAIM_MODE:
            started = time.monotonic()
            answer, output = sam_invoke(ROOT / "events" / event)
            took = time.monotonic() - started
            if answer is None:
                report.fail(f"invoke {event}: no answer ({took:.1f} s)", output.splitlines()[-15:])
                continue
            sent = json.loads((ROOT / "events" / event).read_text())
            report.check(f"invoke {event:34} {show(answer)} ({took:.1f} s)", shape_problems(answer, status, code, sent))
        start_api_checks(report, logs)
    return report.finish()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("invoke", "check") or (sys.argv[1] == "invoke" and len(sys.argv) != 3):
        print(__doc__, file=sys.stderr)
        return 2
    if not need_docker(f"make {'sam-check' if sys.argv[1] == 'check' else 'invoke'}"):
        return 1
    return check() if sys.argv[1] == "check" else invoke(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
