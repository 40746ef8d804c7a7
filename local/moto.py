"""moto's server, started one way, and the one client the tools seed it with."""

import json
import os
import sys
import urllib.request

from .common import spawn, wait_for_port


def start(port, log, managed_policies=False, host="127.0.0.1"):
    """moto_server on `host`:`port` (loopback unless told), listening when this returns."""
    env = {**os.environ, **({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"} if managed_policies else {})}
    proc = spawn([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], log, env=env)
    wait_for_port(port, "moto_server", proc, timeout=60, host=host)
    return proc


def call(port, service, target, payload, host="127.0.0.1"):
    """One JSON-protocol call (Secrets Manager, DynamoDB) to moto; returns the answer."""
    json_version = "1.0" if service == "dynamodb" else "1.1"
    request = urllib.request.Request(
        f"http://{host}:{port}/", data=json.dumps(payload).encode(), method="POST",
        headers={"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{json_version}",
                 "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")
