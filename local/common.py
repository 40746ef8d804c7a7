"""What the local tools share: paths, the demo key, fake AWS credentials, ports, process
trees, and the function's variables as docs/function-variables.json lists them."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "demo-enterprise-key-0123456789abcdef"
FAKE_AWS = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def function_variables():
    """The entries of docs/function-variables.json, in order."""
    return json.loads((ROOT / "docs" / "function-variables.json").read_text())["variables"]


def forwarded(environ=None):
    """The function's variables set (non-empty) in `environ` that the tools do not set themselves."""
    environ = os.environ if environ is None else environ
    return {v["name"]: environ[v["name"]] for v in function_variables()
            if not v.get("set_by_tools") and environ.get(v["name"])}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, proc, timeout=30.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout}s")


def spawn(argv, log, env=None, cwd=None):
    """Starts `argv` in a process group of its own, so `stop_tree` stops it and its children."""
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop_tree(proc, sig=signal.SIGTERM, timeout=10):
    """Stops a process started by `spawn` and everything it started; True if it ended in time."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return False
