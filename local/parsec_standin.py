#!/usr/bin/env python3
"""A local stand-in for Parsec's Enterprise API, honest to what is known of it.

POST /enterprise/sessions with `x-api-key` and `{"external_id": "..."}`:
- an unknown key: 403 {"error": "invalid api key"}
- a malformed key (not printable ASCII): 500 {"message": "Internal Server Error"}
- a body that is not exactly {"external_id": "<1-63 bytes>"}: 400
- otherwise 201 {"session": {"id": <64 hex>, "expires_at": now+TTL, "host_peer_id", "client_peer_id"}}
  Every call creates a new session.

GET /_stats returns request and connection counts (for tests and benchmarks).
Faults for local experiments, set with environment variables:
  STANDIN_KEYS         comma-separated accepted keys (default: the demo key)
  STANDIN_DELAY_MS     service time added to every session request (default 0)
  STANDIN_SESSION_TTL  seconds until a session expires (default 10800)
Listens on 127.0.0.1 unless HOST names another address of this machine (the Docker network
`make standins` creates). Usage: python -m local.parsec_standin PORT [HOST]
"""

import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import DEMO_KEY

KEYS = {k for k in os.environ.get("STANDIN_KEYS", DEMO_KEY).split(",") if k}
DELAY = int(os.environ.get("STANDIN_DELAY_MS", "0")) / 1000.0
TTL = int(os.environ.get("STANDIN_SESSION_TTL", "10800"))
MAX_BODY = 64 * 1024

stats_lock = threading.Lock()
stats = {"requests": 0, "sessions": 0, "connections": 0, "rejected": 0}


def bump(name):
    with stats_lock:
        stats[name] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API front end
    server_version = "parsec-standin"

    def setup(self):
        super().setup()
        bump("connections")

    def log_message(self, fmt, *args):  # quiet: never print keys or session ids
        pass

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_stats":
            with stats_lock:
                self.reply(200, dict(stats))
        else:
            self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY + 1)) if length else b""
        if self.path != "/enterprise/sessions":
            return self.reply(404, {"message": "Not Found"})
        bump("requests")
        if DELAY:
            time.sleep(DELAY)
        key = self.headers.get("x-api-key", "")
        if key and not all(0x21 <= ord(c) <= 0x7E for c in key):
            return self.reply(500, {"message": "Internal Server Error"})
        if key not in KEYS:
            bump("rejected")
            return self.reply(403, {"error": "invalid api key"})
        try:
            body = json.loads(raw)
            external_id = body["external_id"]
            ok = (
                isinstance(body, dict)
                and list(body) == ["external_id"]
                and isinstance(external_id, str)
                and 1 <= len(external_id.encode()) <= 63
                and self.headers.get("Content-Type", "").split(";")[0].strip().lower() == "application/json"
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return self.reply(400, {"error": "invalid external_id"})
        bump("sessions")
        self.reply(201, {"session": {
            "id": secrets.token_hex(32),
            "expires_at": int(time.time()) + TTL,
            "host_peer_id": secrets.token_urlsafe(16),
            "client_peer_id": secrets.token_urlsafe(16),
        }})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"parsec stand-in listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
