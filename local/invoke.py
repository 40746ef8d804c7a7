#!/usr/bin/env python3
"""`make invoke` without Docker: what `sam local invoke` does, with the same emulator.

  python -m local.invoke BINARY EVENT_FILE [ENV_JSON]

Starts the Secrets Manager emulator (moto, seeded with the demo key) and the Parsec
stand-in on 127.0.0.1, runs BINARY under AWS's Runtime Interface Emulator (the
`aws-lambda-rie` the SAM CLI wheel ships, which `sam local invoke` runs in its container)
with the variables of ENV_JSON (`events/env.json` by default; its Secrets Manager and
Parsec endpoints are pointed at the stand-ins started here) and the function's variables
(docs/function-variables.json) set in the environment, sends EVENT_FILE once,
prints the function's answer and stops everything.
"""

import json
import sys
import tempfile
from pathlib import Path

from .common import ROOT, forwarded
from .stack import running_stack

FUNCTION = "SessionBrokerFunction"


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    binary, event = sys.argv[1], Path(sys.argv[2])
    env_file = Path(sys.argv[3]) if len(sys.argv) == 4 else ROOT / "events" / "env.json"
    variables = json.loads(env_file.read_text()).get(FUNCTION, {})
    with tempfile.TemporaryDirectory(prefix="parsec-broker-invoke-") as logs, \
            running_stack(binary, logs, runner="rie") as stack:
        local = stack.function_env()
        overrides = {**variables, **forwarded(),
                     "PARSEC_API_URL": local["PARSEC_API_URL"],
                     "AWS_ENDPOINT_URL_SECRETS_MANAGER": local["AWS_ENDPOINT_URL_SECRETS_MANAGER"]}
        stack.start_function(overrides)
        answer = stack.invoke(event)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        function_log = Path(logs) / stack.function_log.name
        sys.stderr.write(function_log.read_text(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
