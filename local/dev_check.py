#!/usr/bin/env python3
"""The test of `make dev` and `make token`, run by `make test` as
`python -m local.dev_check BINARY`: starts what `make dev` runs (`python -m local.dev`) on a
free loopback port, then checks that

- a token from what `make token` runs (`python -m local.mint_token`) gets 201 with a session;
- no token, an expired token, a token whose payload was altered, an `alg: none` token, an
  HS256 token (signed with the issuer's public key as the secret) and a token for another
  audience all get API Gateway's 401, and reach neither the function (so neither Secrets
  Manager nor Parsec);
- another route is 404, and so are TRACE, QUERY, DELETE and HEAD (JSON, and no body for HEAD);
- a chunked body is read as the same body sent with a length (a `403` for another user, not
  the caller's own session), and the connection stays usable after it;
- a body over 10 MB is API Gateway's 413;
- with the Parsec stand-in taking 250 ms (STANDIN_DELAY_MS=250), 8 concurrent requests all get
  their answers within 3 times one request's time;
- Ctrl-C (SIGINT to the process group, as a terminal sends it) leaves nothing running.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import dev as local_dev
from . import issuer
from .common import ROOT, free_port, stop_tree
from .report import Report


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(sub, ttl=3600):
    out = subprocess.run([sys.executable, "-m", "local.mint_token", "--sub", sub, "--ttl", str(ttl)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise SystemExit(f"local.mint_token failed: {out.stderr}")
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


def method_problems(port):
    problems = []
    for method in ("TRACE", "QUERY", "DELETE", "GET", "HEAD"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, "/sessions")
        response = conn.getresponse()
        body = response.read()
        kind = response.getheader("content-type")
        expected_body = b"" if method == "HEAD" else b'{"message": "Not Found"}'
        if response.status != 404 or kind != "application/json" or body != expected_body:
            problems.append(f"{method}: {response.status} {kind} {body[:80]!r}")
        conn.close()
    return problems


def chunked_problems(port, token):
    """The same body for another user, chunked and with a length, on one connection: both 403."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    conn.request("POST", "/sessions", body=iter([b'{"external_id":', b' "user-7"}']),
                 headers={**headers, "Transfer-Encoding": "chunked"}, encode_chunked=True)
    response = conn.getresponse()
    answers.append((response.status, json.loads(response.read() or b"null")))
    conn.request("POST", "/sessions", body=b'{"external_id": "user-7"}', headers=headers)
    response = conn.getresponse()
    answers.append((response.status, json.loads(response.read() or b"null")))
    conn.close()
    codes = [(status, (body or {}).get("error", {}).get("code")) for status, body in answers]
    return [] if codes == [(403, "forbidden")] * 2 else [f"chunked, then with a length: {codes}"]


def too_large_problems(port):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 10485761\r\n\r\n")
        data = b""
        while len(data) < 65536:  # the server answers and closes the connection
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        answer = data.decode(errors="replace")
    ok = answer.startswith("HTTP/1.1 413") and '"Request Entity Too Large"' in answer
    return [] if ok else [answer[:200]]


def concurrency_problems(url, token):
    started = time.monotonic()
    status, _ = post(url, token)
    one = time.monotonic() - started
    results = []

    def call():
        results.append(post(url, token)[0])

    threads = [threading.Thread(target=call) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    eight = time.monotonic() - started
    print(f"  one request {one * 1000:.0f} ms; 8 concurrent {eight * 1000:.0f} ms ({eight / one:.1f}x)", flush=True)
    problems = [] if status == 201 and sorted(results) == [201] * 8 else [f"statuses {status}, {sorted(results)}"]
    if eight > 3 * one:
        problems.append(f"8 concurrent took {eight:.2f} s, over 3x one request ({one:.2f} s)")
    return problems


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m local.dev_check BINARY")
    port = free_port()
    url = f"http://127.0.0.1:{port}/sessions"
    report = Report("make dev")
    problems = []
    with tempfile.NamedTemporaryFile("w+", prefix="make-dev-", suffix=".log") as out:
        dev = local_dev.start(sys.argv[1], port, out, env={**os.environ, "STANDIN_DELAY_MS": "250"})
        try:
            banner = Path(out.name).read_text()
            logs = Path(re.search(r"logs:\s+(\S+)", banner).group(1))

            good = make_token("user-42")
            status, body = post(url, good)
            report.check("a valid token gets 201 with a session",
                         [] if status == 201 and sorted(body or {}) == ["expires_at", "session_id"]
                         else [f"{status} {body}"])

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
                "an expired token": make_token("user-42", ttl=-60),
                "an altered payload": f"{header}.{forged_claims}.{signature}",
                "alg none": f"{none_header}.{payload}.",
                "HS256 with the public key as secret": f"{hs_header}.{payload}.{hs_signature}",
                "another audience": issuer.token("user-42", client_id="someone-else"),
                "garbage": "not-a-jwt",
            }
            for what, token in refused.items():
                status, body = post(url, token)
                report.check(f"{what}: API Gateway's 401",
                             [] if status == 401 and body == {"message": "Unauthorized"} else [f"{status} {body}"])
            status, body = post(url.replace("/sessions", "/other"), good)
            report.check("another route: 404", [] if status == 404 else [f"{status} {body}"])
            report.check("TRACE, QUERY, DELETE, GET and HEAD: API Gateway's JSON 404", method_problems(port))
            report.check("a chunked body is read as the same body with a length", chunked_problems(port, good))
            report.check("a body over 10 MB: API Gateway's 413", too_large_problems(port))
            report.check("8 concurrent requests with Parsec taking 250 ms: all within 3x one request",
                         concurrency_problems(url, good))

            audit_lines = sum(p.read_text(errors="replace").count("session request")
                              for p in logs.glob("function*.log"))
            # the valid token's, two chunked/with-length requests, 1 + 8 concurrent ones
            report.check("only the valid tokens' requests reached the function",
                         [] if audit_lines == 12 else [f"the function saw {audit_lines} requests, expected 12"])
            parsec = int(re.search(r"Parsec stand-in on 127.0.0.1:(\d+)", banner).group(1))
            with urllib.request.urlopen(f"http://127.0.0.1:{parsec}/_stats", timeout=5) as r:
                sessions = json.loads(r.read())["requests"]
            report.check("Parsec saw one request per session", [] if sessions == 10 else [f"Parsec saw {sessions} requests, expected 10"])
        finally:
            started = descendants(dev.pid)
            if not stop_tree(dev, signal.SIGINT, timeout=30):
                problems.append("make dev did not stop within 30 s of Ctrl-C")
            time.sleep(0.5)
            left = [pid for pid in started if alive(pid)]
            if left:
                problems.append(f"still running after Ctrl-C: {left}")
                for pid in left:
                    os.kill(pid, signal.SIGKILL)
        print("\n".join(line for line in Path(out.name).read_text().splitlines() if "->" in line))
    report.check(f"Ctrl-C stops everything ({len(started)} processes)", problems)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
