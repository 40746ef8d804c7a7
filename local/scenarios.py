"""Which sample events run under which configuration, and what each must answer.
Shared by `make local` (which prints) and the end-to-end test (which asserts)."""

from . import issuer
from .common import function_variables

CLAIM_MODE = {}
# The sample backend token's app client and the sample IAM backend's role.
BODY_MODE = {
    "EXTERNAL_ID_SOURCE": "body",
    "TRUSTED_CALLERS": "client_id:backend7m2vq4k1s9example,role:arn:aws:iam::123456789012:role/game-backend",
}

# The template's default front door (AuthMode JWT): the function re-verifies every token
# against the local issuer's JWKS (served on 127.0.0.1 by the stack).
JWT_MODE = {"JWT_ISSUER": issuer.ISSUER, "JWT_AUDIENCE": issuer.AUDIENCE}

# One session per device: the store in moto's DynamoDB, sealed with the seeded seal secret.
DEVICE_STORE = {"SESSION_STORE_TABLE": "parsec-device-sessions", "SESSION_SEAL_SECRET_ID": "parsec/session-seal"}

# (configuration name, environment overrides, [(event, status, error code or None)])
# A 200 must carry the session of the scenario's last 201: the device's stored session.
# An event named `signed:<file>` is sent with a fresh token of the local issuer carrying the
# file's claims; `forged:<file>` the same token, its context claiming `sub: victim`.
SCENARIOS = [
    ("token re-verification on (JWT_ISSUER, the template's JWT default): tokens of the local issuer", JWT_MODE, [
        ("signed:http-api-jwt.json", 201, None),
        ("signed:http-api-jwt-scope-claim.json", 201, None),
        ("signed:rest-cognito.json", 201, None),
        ("signed:http-api-jwt-other-user.json", 403, "forbidden"),
        ("forged:http-api-jwt.json", 401, "unauthenticated"),
        ("forged:rest-cognito.json", 401, "unauthenticated"),
        ("http-api-jwt.json", 401, "unauthenticated"),
        ("http-api-lambda-authorizer.json", 401, "unauthenticated"),
        ("http-api-iam.json", 401, "unauthenticated"),
        ("http-api-no-authorizer.json", 401, "unauthenticated"),
    ]),
    ("claim mode (default): the caller's own `sub`", CLAIM_MODE, [
        ("http-api-jwt.json", 201, None),
        ("http-api-jwt-scope-claim.json", 201, None),
        ("http-api-jwt-base64-body.json", 201, None),
        ("http-api-lambda-authorizer.json", 201, None),
        ("rest-lambda-authorizer.json", 201, None),
        ("rest-cognito.json", 201, None),
        ("http-api-jwt-other-user.json", 403, "forbidden"),
        ("http-api-jwt-backend.json", 403, "forbidden"),
        ("http-api-iam.json", 403, "forbidden"),
        ("http-api-iam-cognito-guest.json", 403, "forbidden"),
        ("http-api-no-authorizer.json", 401, "unauthenticated"),
        ("rest-no-authorizer.json", 401, "unauthenticated"),
        ("http-api-jwt-get.json", 405, "method_not_allowed"),
        ("http-api-jwt-too-large.json", 413, "payload_too_large"),
        ("http-api-jwt-text-plain.json", 415, "unsupported_media_type"),
        ("http-api-jwt-invalid-json.json", 400, "invalid_request"),
        ("http-api-jwt-extra-field.json", 400, "invalid_request"),
        ("http-api-jwt-bad-base64.json", 400, "invalid_request"),
        # No session store here: a device_id is accepted and every request mints.
        ("http-api-jwt-device.json", 201, None),
    ]),
    ("one session per device (SESSION_STORE_TABLE in moto's DynamoDB, SESSION_SEAL_SECRET_ID)", DEVICE_STORE, [
        ("http-api-jwt-device.json", 201, None),
        ("http-api-jwt-device.json", 200, None),
        ("http-api-jwt-device-renew.json", 201, None),
        ("http-api-jwt-device.json", 200, None),
        ("http-api-jwt.json", 201, None),
    ]),
    ("a session table that does not exist: a misconfiguration, Parsec not called",
     {**DEVICE_STORE, "SESSION_STORE_TABLE": "no-such-table"}, [
        ("http-api-jwt-device.json", 500, "misconfigured"),
        ("http-api-jwt.json", 201, None),
    ]),
    ("body mode: TRUSTED_CALLERS name the user; everyone else as in claim mode", BODY_MODE, [
        ("http-api-jwt-backend.json", 201, None),
        ("http-api-iam.json", 201, None),
        ("function-url-iam.json", 201, None),
        ("rest-iam.json", 201, None),
        ("http-api-jwt-other-user.json", 403, "forbidden"),
        ("http-api-jwt.json", 201, None),
        ("rest-lambda-authorizer.json", 201, None),
        ("http-api-iam-cognito.json", 403, "forbidden"),
        ("http-api-no-authorizer.json", 401, "unauthenticated"),
    ]),
    ("Cognito identity pool callers (IAM), EXTERNAL_ID_CLAIM=cognitoIdentityId",
     {"EXTERNAL_ID_CLAIM": "cognitoIdentityId"}, [
        ("http-api-iam-cognito.json", 201, None),
        ("rest-iam-cognito.json", 201, None),
        ("http-api-iam-cognito-guest.json", 403, "forbidden"),
        ("rest-iam-cognito-guest.json", 403, "forbidden"),
        ("http-api-iam.json", 403, "forbidden"),
    ]),
    ("a per-user quota, SESSION_QUOTA=2/3600 (counters in moto's DynamoDB)",
     {"SESSION_QUOTA": "2/3600", "QUOTA_TABLE": "parsec-session-quotas"}, [
        ("http-api-jwt.json", 201, None),
        ("http-api-lambda-authorizer.json", 201, None),
        ("rest-cognito.json", 429, "quota_exceeded"),
        ("http-api-jwt.json", 429, "quota_exceeded"),
    ]),
    ("a quota table that does not exist: a misconfiguration, not a per-process quota",
     {"SESSION_QUOTA": "2/3600", "QUOTA_TABLE": "no-such-table"}, [
        ("http-api-jwt.json", 500, "misconfigured"),
    ]),
    ("claim mode, REQUIRED_SCOPE=parsec/admin", {"REQUIRED_SCOPE": "parsec/admin"}, [
        ("http-api-jwt.json", 403, "forbidden"),
    ]),
    ("a plain-string secret is the key itself", {"PARSEC_SECRET_ID": "parsec/plain-string-key"}, [
        ("http-api-jwt.json", 201, None),
    ]),
    ("a secret without the api_key field", {"PARSEC_SECRET_ID": "parsec/no-key-field"}, [
        ("http-api-jwt.json", 500, "misconfigured"),
    ]),
    ("a secret that does not exist", {"PARSEC_SECRET_ID": "parsec/does-not-exist"}, [
        ("http-api-jwt.json", 500, "misconfigured"),
        ("http-api-no-authorizer.json", 401, "unauthenticated"),
    ]),
    ("a key Parsec rejects (same version on refetch)", {"PARSEC_SECRET_ID": "parsec/revoked-key"}, [
        ("http-api-jwt.json", 502, "upstream_auth_failed"),
    ]),
    ("Secrets Manager unreachable at cold start", {"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1"}, [
        ("http-api-jwt.json", 503, "secret_unavailable"),
    ]),
    ("the issuer's JWKS unreachable at cold start", {**JWT_MODE, "JWT_JWKS_URL": "http://127.0.0.1:1/jwks.json"}, [
        ("signed:http-api-jwt.json", 503, "jwks_unavailable"),
    ]),
    ("Parsec unreachable", {"PARSEC_API_URL": "http://127.0.0.1:1"}, [
        ("http-api-jwt.json", 502, "upstream_unreachable"),
    ]),
]


# A scenario may only set the function's own variables (docs/function-variables.json) and the
# AWS SDK's and runtime's (AWS_*).
_UNLISTED = sorted({name for _, env, _ in SCENARIOS for name in env if not name.startswith("AWS_")}
                   - {v["name"] for v in function_variables()})
if _UNLISTED:
    raise SystemExit(f"scenarios set variables docs/function-variables.json does not list: {_UNLISTED}")
