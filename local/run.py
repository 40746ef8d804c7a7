#!/usr/bin/env python3
"""Runs the function locally against the stand-ins and sends it every sample event.

  python -m local.run BINARY          print each event's status and body (`make local`)
  python -m local.run BINARY --check  also assert the expected status, error code, request id and
                           body shape, and that no secret reached the function's log
                           (the end-to-end test of `make test`)
  --runner rie             run the binary under AWS's Runtime Interface Emulator (what
                           `sam local invoke` runs) instead of cargo lambda's emulator
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import issuer, spec
from .common import DEMO_KEY, ROOT
from .report import Report
from .scenarios import SCENARIOS
from .stack import RUNNERS, running_stack

CONTRACT_HEADERS = {"content-type": "application/json", "cache-control": "no-store", "pragma": "no-cache",
                    "x-content-type-options": "nosniff"}


def shape_problems(response, status, code, event):
    problems = []
    if response.get("statusCode") != status:
        problems.append(f"status {response.get('statusCode')} != {status}")
    headers = {k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v}
    headers.update({k.lower(): v for k, v in (response.get("headers") or {}).items()})
    for name, value in CONTRACT_HEADERS.items():
        if headers.get(name) != value:
            problems.append(f"header {name}={headers.get(name)!r}")
    problems += spec.problems(response.get("statusCode"), headers, response.get("body") or "")
    try:
        body = json.loads(response.get("body") or "")
    except ValueError:
        return problems + ["body is not JSON"]
    if code is None:
        if sorted(body) != ["expires_at", "session_id"] or not isinstance(body["expires_at"], int) \
                or len(body["session_id"]) != 64:
            problems.append(f"success body has the wrong shape: keys {sorted(body)}")
    else:
        error = body.get("error", {})
        if sorted(body) != ["error"] or error.get("code") != code or sorted(error) != ["code", "message", "request_id"]:
            problems.append(f"error body {body}")
        if status == 405 and headers.get("allow") != "POST":
            problems.append("405 without Allow: POST")
        if status in (409, 429, 503) and not (headers.get("retry-after") or "").isdigit():
            problems.append(f"{status} without a Retry-After in seconds")
        gateway_id = (event.get("requestContext") or {}).get("requestId")
        if gateway_id and error.get("request_id") != gateway_id:
            problems.append(f"request_id {error.get('request_id')!r} is not API Gateway's {gateway_id!r}")
    return problems


def show(response):
    body = response.get("body") or ""
    try:
        body = json.loads(body)
        if "session_id" in body:  # a real session id is a credential: show its shape only
            body["session_id"] = body["session_id"][:6] + "…"
        body = json.dumps(body, ensure_ascii=False)
    except ValueError:
        pass
    return f"{response.get('statusCode')} {body}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--runner", choices=RUNNERS, default="cargo-lambda")
    args = parser.parse_args()
    report = Report("e2e")
    issued, tokens = [], []
    with tempfile.TemporaryDirectory(prefix="parsec-broker-local-") as logs, running_stack(args.binary, logs, args.runner) as stack:
        print(f"runner: {args.runner}")
        for title, env, cases in SCENARIOS:
            print(f"\n== {title}")
            stack.start_function(env)
            last_created = None
            for event, status, code in cases:
                how, _, name = event.rpartition(":")
                sent = json.loads((ROOT / "events" / name).read_text())
                if how:
                    sent = issuer.signed_event(sent, forge={"sub": "victim"} if how == "forged" else None)
                    headers = sent["headers"]
                    tokens.append((headers.get("authorization") or headers["Authorization"]).split()[-1])
                    response = stack.invoke_event(sent, name)
                else:
                    response = stack.invoke(ROOT / "events" / name)
                body = json.loads(response.get("body") or "{}")
                if "session_id" in body:
                    issued.append(body["session_id"])
                problems = shape_problems(response, status, code, sent) if args.check else []
                if status == 201:
                    last_created = body.get("session_id")
                elif status == 200 and body.get("session_id") != last_created:
                    problems.append("a 200 that is not the device's stored session (the last 201's)")
                line = f"{event:34} {show(response)}"
                if args.check:
                    report.check(line, problems)
                else:
                    print(f"  {line}")
            stack.stop_function()
        if args.check:
            for variable, overrides in [
                ("PARSEC_TIMEOUT_MS", {"PARSEC_TIMEOUT_MS": "soon"}),
                ("PARSEC_API_URL", {"PARSEC_API_URL": "http://parsec.example.com"}),
                ("PARSEC_API_URL", {"PARSEC_API_URL": "https://parsec-proxy.example.com"}),
                ("PARSEC_SECRET_ID", {"PARSEC_SECRET_ID": ""}),
                ("TRUSTED_CALLERS", {"EXTERNAL_ID_SOURCE": "body"}),
                ("TRUSTED_CALLERS", {"EXTERNAL_ID_SOURCE": "body", "TRUSTED_CALLERS": "backend"}),
                ("EXTERNAL_ID_CLAIM", {"EXTERNAL_ID_CLAIM": "email"}),
                ("SESSION_QUOTA", {"SESSION_QUOTA": "20 per hour", "QUOTA_TABLE": "t"}),
                ("QUOTA_TABLE", {"SESSION_QUOTA": "20/3600"}),
                ("SESSION_SEAL_SECRET_ID", {"SESSION_STORE_TABLE": "parsec-device-sessions"}),
                ("JWT_AUDIENCE", {"JWT_ISSUER": "https://issuer.example"}),
                ("JWT_JWKS_URL", {"JWT_ISSUER": "https://issuer.example", "JWT_AUDIENCE": "a",
                                  "JWT_JWKS_URL": "http://issuer.example/jwks.json"}),
            ]:
                code, output = stack.start_up_failure(overrides)
                lines = [line for line in output.splitlines() if line.strip()]
                if code != 0 and len(lines) == 1 and variable in lines[0]:
                    report.ok(f"bad {variable} stops start-up: {lines[0].strip()}")
                else:
                    report.fail(f"bad {variable}: exit {code}, output {output!r}")
        if args.check:
            covered = {event.rpartition(":")[2] for _, _, cases in SCENARIOS for event, _, _ in cases}
            missing = sorted(p.name for p in (ROOT / "events").glob("*.json") if p.name != "env.json"
                             and p.name not in covered)
            if missing:
                report.fail(f"sample events no scenario sends: {missing}")
        stats = stack.parsec_stats()
        print(f"\nParsec stand-in: {stats['requests']} requests on {stats['connections']} connection(s)")
        function_logs = "".join(p.read_text(errors="replace") for p in Path(logs).glob("function*.log"))
        if args.check:
            leaks = [s for s in [DEMO_KEY, *issued, *tokens, *(t.split(".")[2] for t in tokens),
                                 "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ", "Signature=5d672d79"]
                     if s in function_logs]
            lines = function_logs.count("session request")
            if any("SESSION_QUOTA" in env for _, env, _ in SCENARIOS):
                counted = function_logs.count('quota="store"') + function_logs.count('"quota":"store"')
                failing = function_logs.count("the quota store is failing")
                if counted == 0 or failing:
                    report.fail(f"quota: {counted} requests counted in DynamoDB, {failing} store failure warning(s)")
                else:
                    report.ok(f"quota: {counted} requests counted in moto's DynamoDB, no store failure")
            if leaks or lines == 0:
                report.fail(f"log check: {len(leaks)} secret(s) found in the function's trace-level log, "
                            f"{lines} audit lines")
            else:
                report.ok(f"log check: {lines} audit lines at trace level, no key, session id or Authorization value")
    return report.finish() if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
