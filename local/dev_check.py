#!/usr/bin/env python3
"""The test of `make dev` and `make token`, run by `make test`: starts `make dev` on a free
loopback port, then checks that

- a `make -s token` token gets 201 with a session;
- no token, an expired token, a token whose payload was altered, an `alg: none` token, an
  HS256 token (signed with the issuer's public key as the secret) and a token for another
  audience all get API Gateway's 401, and reach neither the function (so neither Secrets
  Manager nor Parsec);
- another route is 404;
- Ctrl-C (SIGINT to the process group, as a terminal sends it) leaves nothing running.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import issuer  # noqa: E402
from stack import ROOT, free_port  # noqa: E402


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(*args):
    out = subprocess.run(["make", "-s", "token", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise SystemExit(f"make token failed: {out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def post(url, token=None, body=b"{}", method="POST"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def descendants(pid):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def main():
    port = free_port()
    url = f"http://127.0.0.1:{port}/sessions"
    problems = []
    with tempfile.NamedTemporaryFile("w+", prefix="make-dev-", suffix=".log") as out:
        dev = subprocess.Popen(["make", "--no-print-directory", "dev", f"PORT={port}"], cwd=ROOT, stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while "Ctrl-C stops everything" not in Path(out.name).read_text():
                if dev.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"make dev did not start:\n{Path(out.name).read_text()}")
                time.sleep(0.2)
            banner = Path(out.name).read_text()
            logs = Path(re.search(r"logs:\s+(\S+)", banner).group(1))

            good = make_token("SUB=user-42")
            status, body = post(url, good)
            if status != 201 or sorted(body or {}) != ["expires_at", "session_id"]:
                problems.append(f"a valid token: {status} {body}")

            header, payload, signature = good.split(".")
            claims = json.loads(unb64url(payload))
            forged_claims = b64url(json.dumps({**claims, "sub": "user-7"}).encode())
            public_pem = issuer.public_key().public_bytes(
                issuer.serialization.Encoding.PEM, issuer.serialization.PublicFormat.SubjectPublicKeyInfo)
            hs_header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.key_id()}).encode())
            hs_signature = b64url(hmac.new(public_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest())
            none_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            refused = {
                "no token": None,
                "an expired token": make_token("SUB=user-42", "TTL=-60"),
                "an altered payload": f"{header}.{forged_claims}.{signature}",
                "alg none": f"{none_header}.{payload}.",
                "HS256 with the public key as secret": f"{hs_header}.{payload}.{hs_signature}",
                "another audience": issuer.token("user-42", client_id="someone-else"),
                "garbage": "not-a-jwt",
            }
            for what, token in refused.items():
                status, body = post(url, token)
                if status != 401 or body != {"message": "Unauthorized"}:
                    problems.append(f"{what}: {status} {body}")
            status, body = post(url.replace("/sessions", "/other"), good)
            if status != 404:
                problems.append(f"another route: {status} {body}")

            audit_lines = sum(p.read_text(errors="replace").count("session request")
                              for p in logs.glob("function*.log"))
            if audit_lines != 1:
                problems.append(f"the function saw {audit_lines} requests; only the valid token's should reach it")
            parsec = int(re.search(r"Parsec stand-in on 127.0.0.1:(\d+)", banner).group(1))
            with urllib.request.urlopen(f"http://127.0.0.1:{parsec}/_stats", timeout=5) as r:
                sessions = json.loads(r.read())["requests"]
            if sessions != 1:
                problems.append(f"Parsec saw {sessions} requests, expected 1")
        finally:
            started = descendants(dev.pid)
            os.killpg(dev.pid, signal.SIGINT)
            try:
                dev.wait(timeout=30)
            except subprocess.TimeoutExpired:
                problems.append("make dev did not stop within 30 s of Ctrl-C")
                os.killpg(dev.pid, signal.SIGKILL)
            time.sleep(0.5)
            left = [pid for pid in started if alive(pid)]
            if left:
                problems.append(f"still running after Ctrl-C: {left}")
                for pid in left:
                    os.kill(pid, signal.SIGKILL)
        print("\n".join(line for line in Path(out.name).read_text().splitlines() if "->" in line))
    for p in problems:
        print(f"  FAIL {p}")
    print(f"make dev: {'FAILED' if problems else 'ok'} ({len(problems)} problem(s), {len(started)} processes stopped)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
