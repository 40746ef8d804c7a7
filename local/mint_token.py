#!/usr/bin/env python3
"""`make token` (mint_token.py, not token.py: that name is the standard library's): print an access token of the local issuer that `make dev` accepts.

  token.py --sub USER [--scope "parsec/sessions"] [--ttl SECONDS] [--client-id ID]

TTL may be negative (an expired token). The token is the last line printed.
"""

import argparse

from . import issuer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sub", required=True)
    parser.add_argument("--scope", default=issuer.DEFAULT_SCOPE)
    parser.add_argument("--ttl", type=int, default=3600)
    parser.add_argument("--client-id", default=issuer.AUDIENCE)
    args = parser.parse_args()
    if not args.sub:
        parser.error("--sub must name a user")
    print(issuer.token(args.sub, scope=args.scope, ttl=args.ttl, client_id=args.client_id))


if __name__ == "__main__":
    main()
