#!/usr/bin/env python3
"""`make standins`: the stand-ins `sam local invoke` and `sam local start-api` reach, in the
foreground, on the addresses and ports events/env.json names. Ctrl-C stops them.

Why a Docker network: SAM runs the function in a container whose 127.0.0.1 is its own (and
current SAM no longer gives it the host's network with `--docker-network host`). So this
creates a Docker network of its own, `parsec-broker-local` (172.29.77.0/24; the host is its
gateway, 172.29.77.1), the stand-ins listen on the host's address on it, and SAM puts the
container on it (`--docker-network parsec-broker-local`). Nothing listens beyond this
machine: the address exists only on the network's bridge. The function refuses plain http to
anything but loopback unless SAM says it is running it (AWS_SAM_LOCAL=true; SECURITY.md).

  python -m local.standins            (as `make local` seeds them: the demo key, the quota table)
"""

import ipaddress
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from . import moto
from .common import DEMO_KEY, ROOT, spawn, stop_tree, wait_for_port
from .stack import seed

NETWORK = "parsec-broker-local"
FUNCTION = "SessionBrokerFunction"


def endpoints(env_file=ROOT / "events" / "env.json"):
    """(host, moto port, Parsec port) as events/env.json names them."""
    variables = json.loads(Path(env_file).read_text())[FUNCTION]
    parsec = urllib.parse.urlsplit(variables["PARSEC_API_URL"])
    secrets = urllib.parse.urlsplit(variables["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
    if parsec.hostname != secrets.hostname:
        raise SystemExit("events/env.json: PARSEC_API_URL and AWS_ENDPOINT_URL_SECRETS_MANAGER must name one host")
    return parsec.hostname, secrets.port, parsec.port


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=check,
                          stdin=subprocess.DEVNULL)


def docker_ready():
    try:
        return docker("info", check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_network(host):
    """The Docker network whose gateway is `host` (created when missing); its name."""
    found = docker("network", "inspect", NETWORK, "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", check=False)
    if found.returncode == 0:
        if host not in found.stdout.split():
            raise SystemExit(f"Docker network {NETWORK} exists without gateway {host}: remove it "
                             f"(docker network rm {NETWORK}) and run this again")
        return NETWORK
    subnet = ipaddress.ip_network(f"{host}/24", strict=False)
    docker("network", "create", "--driver", "bridge", "--subnet", str(subnet), "--gateway", host, NETWORK)
    print(f"created Docker network {NETWORK} ({subnet}, this machine is {host} on it)", flush=True)
    # The bridge's address can take a moment to appear on the host.
    for _ in range(50):
        if subprocess.run(["ip", "-o", "addr", "show", "to", host], capture_output=True, text=True).stdout.strip():
            break
        time.sleep(0.1)
    return NETWORK


@contextmanager
def running(log_dir):
    """moto (Secrets Manager with the demo secrets, DynamoDB with the quota table) and the Parsec
    stand-in on events/env.json's addresses, on the Docker network; stopped on exit."""
    host, moto_port, parsec_port = endpoints()
    if not ipaddress.ip_address(host).is_loopback:
        ensure_network(host)
    for port in (moto_port, parsec_port):
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                raise SystemExit(f"something already listens on {host}:{port} (another `make standins`?); stop it first")
    log_dir = Path(log_dir)
    procs = [moto.start(moto_port, open(log_dir / "moto.log", "wb"), host=host)]
    try:
        parsec = spawn([sys.executable, "-m", "local.parsec_standin", str(parsec_port), host],
                       open(log_dir / "parsec.log", "wb"), env={"STANDIN_KEYS": DEMO_KEY, "PATH": ""}, cwd=ROOT)
        procs.append(parsec)
        wait_for_port(parsec_port, "the Parsec stand-in", parsec, host=host)
        seed(lambda service, target, payload: moto.call(moto_port, service, target, payload, host=host))
        yield host, moto_port, parsec_port
    finally:
        for proc in reversed(procs):
            stop_tree(proc)


def main():
    if not docker_ready():
        print("make standins: no Docker daemon answers `docker info`; the stand-ins listen on a Docker "
              "network it creates. Without Docker, `make invoke` and `make local` start their own.", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="parsec-broker-standins-") as logs, running(logs) as (host, mp, pp):
        print(f"""
stand-ins for sam local, on Docker network {NETWORK}:
  Secrets Manager (moto, the demo key as parsec/enterprise-api-key)  http://{host}:{mp}
  Parsec stand-in                                                    http://{host}:{pp}
  logs: {logs}

In another terminal:
  .venv/bin/sam build
  .venv/bin/sam local invoke SessionBrokerFunction --docker-network {NETWORK} \\
      --container-host {host} --container-host-interface {host} \\
      --env-vars events/env.json -e events/http-api-jwt.json
  .venv/bin/sam local start-api --docker-network {NETWORK} --env-vars events/env.json --disable-authorizer \\
      --container-host {host} --container-host-interface {host}
  curl -sS -X POST http://127.0.0.1:3000/sessions -H 'Content-Type: application/json' -d '{{}}'

Ctrl-C stops them.""", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
