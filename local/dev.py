#!/usr/bin/env python3
"""`make dev`: the broker over HTTP on 127.0.0.1, behind a front door that behaves like the
template's HTTP API with its JWT authorizer.

  python -m local.dev BINARY [PORT]          (PORT defaults to 9000)

- Only `POST /sessions` is routed; any other method or path (TRACE, QUERY, … included) is
  `404 {"message":"Not Found"}` as JSON, and `HEAD` gets the headers without a body. Bodies
  may come with Content-Length or chunked; over 10 MB is `413`, as HTTP API's payload limit.
- Requests are served concurrently: one thread per connection, and DEV_WORKERS (default 8)
  copies of the function, each under its own emulator, as Lambda runs one execution
  environment per request in flight.
- The JWT check API Gateway's JWT authorizer makes (local/issuer.py): RS256 signature against
  the local issuer's JWKS (`kid`), `iss`, `aud` or `client_id`, `exp`, `nbf`. Anything else is
  `401 {"message":"Unauthorized"}` and reaches neither the function nor Secrets Manager nor
  Parsec. With REQUIRED_SCOPE set, a token without it is `403 {"message":"Forbidden"}`.
- Then the real function, under AWS's Runtime Interface Emulator, with the payload 2.0 event
  API Gateway would send (`requestContext.authorizer.jwt.claims` as strings, `scopes`), and
  JWT_ISSUER/JWT_AUDIENCE set as the template sets them: it verifies the token again against
  the local issuer's JWKS (served on 127.0.0.1).
- The stand-ins it needs: moto (Secrets Manager, seeded with the demo key) and the Parsec
  stand-in. The function's variables (docs/function-variables.json: EXTERNAL_ID_SOURCE,
  TRUSTED_CALLERS, QUOTA_STORE_WAIT_MS, ...) set in the environment are passed to it.

Prints how to get a token and a ready curl; one line per request; Ctrl-C stops everything.
"""

import base64
import json
import os
import queue
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pathlib import Path

from . import issuer
from .common import ROOT, forwarded, spawn, stop_tree
from .stack import running_stack

ROUTE = ("POST", "/sessions")
# HTTP API's payload limit: a larger request is API Gateway's 413, not the function's.
MAX_BODY = 10 * 1024 * 1024
# Copies of the function, each under its own emulator: the emulator serves one invocation at a
# time, as one Lambda execution environment does, and Lambda runs as many as requests need.
WORKERS = int(os.environ.get("DEV_WORKERS", "8"))


class BadRequest(Exception):
    """A request API Gateway would refuse with 400 before any route."""


class TooLarge(Exception):
    """A body over MAX_BODY."""


def gateway_event(method, path, query, headers, body, claims, scopes, source_ip, request_id):
    now = datetime.now(timezone.utc)
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    return {
        "version": "2.0", "routeKey": f"{ROUTE[0]} {ROUTE[1]}", "rawPath": path, "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local", "requestId": request_id, "routeKey": f"{ROUTE[0]} {ROUTE[1]}",
            "stage": "$default", "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("user-agent", "")},
            "authorizer": {"jwt": {"claims": {k: issuer.http_api_text(v) for k, v in claims.items()}, "scopes": scopes}},
        },
        "body": text if body else None, "isBase64Encoded": is_base64,
    }


class FrontDoor(BaseHTTPRequestHandler):
    stack = None
    workers = queue.Queue()  # the emulators' invoke ports, each taken by one request at a time
    required_scope = os.environ.get("REQUIRED_SCOPE", "")
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass  # one line per request, from note()

    def __getattr__(self, name):
        # Every method reaches do_ANY (TRACE, QUERY, PROPFIND, …), as every method reaches
        # API Gateway's router; Python's server would answer unknown ones with an HTML 501.
        if name.startswith("do_"):
            return self.do_ANY
        raise AttributeError(name)

    def read_body(self):
        """The body, sent with Content-Length or chunked (Transfer-Encoding: chunked)."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("a chunk size is not hexadecimal")
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise TooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)  # the CRLF after the chunk
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            raise BadRequest("Content-Length is not a number")
        if length > MAX_BODY:
            raise TooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def note(self, status, where, started):
        took = (time.monotonic() - started) * 1000
        print(f"{self.command} {self.path} -> {status} ({where}, {took:.0f} ms)", flush=True)

    def answer(self, status, body, headers=(), request_id=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name, _ in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("apigw-requestid", request_id or uuid.uuid4().hex[:16])
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the headers of the answer, no body
            self.wfile.write(data)

    def do_ANY(self):
        started = time.monotonic()
        path, _, query = self.path.partition("?")
        try:
            body = self.read_body()
        except TooLarge:
            self.close_connection = True
            self.answer(413, {"message": "Request Entity Too Large"})
            return self.note(413, "gateway: body too large", started)
        except BadRequest as why:
            self.close_connection = True
            self.answer(400, {"message": "Bad Request"})
            return self.note(400, f"gateway: {why}", started)
        if (self.command, path) != ROUTE:
            self.answer(404, {"message": "Not Found"})
            return self.note(404, "gateway: no route", started)
        auth = self.headers.get("authorization", "")
        scheme, _, token_text = auth.partition(" ")
        if scheme.lower() != "bearer" or not token_text.strip():
            self.answer(401, {"message": "Unauthorized"}, [("www-authenticate", "Bearer")])
            return self.note(401, "gateway: no bearer token", started)
        try:
            claims = issuer.verify(token_text.strip())
        except issuer.Rejected as why:
            self.answer(401, {"message": "Unauthorized"},
                        [("www-authenticate", 'Bearer error="invalid_token"')])
            return self.note(401, f"gateway: {why}", started)
        token_scopes = str(claims.get("scope", "")).split()
        if self.required_scope and self.required_scope not in token_scopes:
            self.answer(403, {"message": "Forbidden"})
            return self.note(403, "gateway: missing scope", started)
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        event = gateway_event(self.command, path, query, headers, body, claims,
                              token_scopes if self.required_scope else None, self.client_address[0], request_id)
        port = self.workers.get(timeout=60)  # a free execution environment
        try:
            result = self.stack.invoke_rie(json.dumps(event).encode(), port)
        finally:
            self.workers.put(port)
        if "statusCode" not in result:
            self.answer(500, {"message": "Internal Server Error"}, request_id=request_id)
            return self.note(500, f"function failed: {result.get('errorType')}", started)
        out = result.get("body") or ""
        data = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
        pairs = list((result.get("headers") or {}).items())
        for name, values in (result.get("multiValueHeaders") or {}).items():
            pairs += [(name, v) for v in values]
        self.answer(result["statusCode"], data, pairs, request_id)
        self.note(result["statusCode"], "function", started)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_ANY


class Server(ThreadingHTTPServer):
    """One thread per connection, and a listen backlog that takes a burst."""
    daemon_threads = True
    request_queue_size = 128


def start(binary, port, out, env=None):
    """What `make dev` runs, as a child process logging to `out`, returned once it says it is
    ready (for the tests that drive it: local.dev_check and local.api_fuzz)."""
    dev = spawn([sys.executable, "-m", "local.dev", str(binary), str(port)], out, cwd=ROOT, env=env)
    deadline = time.monotonic() + 300
    while "Ctrl-C stops everything" not in Path(out.name).read_text():
        if dev.poll() is not None or time.monotonic() > deadline:
            stop_tree(dev)
            raise SystemExit(f"make dev did not start:\n{Path(out.name).read_text()}")
        time.sleep(0.2)
    return dev


def main():
    # Ctrl-C stops everything, even when started from a shell that ignores SIGINT in the background.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    binary = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 9000
    overrides = forwarded()
    overrides["AWS_LAMBDA_LOG_LEVEL"] = "info"
    # The function re-verifies each token against the local issuer's JWKS, as the template
    # configures it behind its JWT authorizer.
    overrides.setdefault("JWT_ISSUER", issuer.ISSUER)
    overrides.setdefault("JWT_AUDIENCE", issuer.AUDIENCE)
    issuer.key_id()  # the issuer exists (and its key is loaded) before the first token is asked for
    print(f"make dev: starting moto, the Parsec stand-in and {WORKERS} copies of the function under "
          "aws-lambda-rie…", flush=True)
    with tempfile.TemporaryDirectory(prefix="parsec-broker-dev-") as logs, \
            running_stack(binary, logs, runner="rie") as stack:
        for worker in stack.start_rie_workers(overrides, WORKERS):
            FrontDoor.workers.put(worker)
        FrontDoor.stack = stack
        server = Server(("127.0.0.1", port), FrontDoor)
        url = f"http://127.0.0.1:{port}/sessions"
        print(f"""
Parsec session broker on {url}
  front door: like the template's HTTP API, JWT authorizer (issuer {issuer.ISSUER}, audience {issuer.AUDIENCE})
  function:   {binary} under aws-lambda-rie, re-verifying tokens (JWT_ISSUER, JWKS on 127.0.0.1:{stack.jwks_port}); Secrets Manager (moto) on 127.0.0.1:{stack.moto_port}, Parsec stand-in on 127.0.0.1:{stack.parsec_port}
  logs:       {logs}

Get a token:  make -s token SUB=user-42   (SCOPE=..., TTL=<seconds, may be negative>)
Then:
  curl -sS -X POST {url} -H "Authorization: Bearer $(make -s token SUB=user-42)" -H 'Content-Type: application/json' -d '{{}}'

Ctrl-C stops everything.
""", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopping", flush=True)
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
