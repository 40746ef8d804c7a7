"""The local JWT issuer `make dev` trusts and `make token` signs with.

An RSA key pair created on first use under `.dev/issuer/` (git-ignored), published as a
JWKS. Signing and checking use PyJWT with `cryptography`: no hand-rolled crypto.
"""

import functools
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .common import ROOT

HOME = ROOT / ".dev" / "issuer"
ISSUER = "https://local-issuer.parsec-session-broker.invalid"
AUDIENCE = "parsec-broker-local"
DEFAULT_SCOPE = "parsec/sessions"


@functools.lru_cache(maxsize=1)
def _private_key():
    """Made on first use, then read once per process (never in a request's path)."""
    path = HOME / "private.pem"
    if not path.exists():
        HOME.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.touch(mode=0o600)
        path.write_bytes(pem)
        (HOME / "kid").write_text(uuid.uuid4().hex)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


@functools.lru_cache(maxsize=1)
def key_id():
    _private_key()
    return (HOME / "kid").read_text().strip()


def public_key():
    return _private_key().public_key()


def jwks():
    """The issuer's JSON Web Key Set, as an identity provider publishes it."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key()))
    jwk.update({"kid": key_id(), "alg": "RS256", "use": "sig"})
    return {"keys": [jwk]}


def token(sub, scope=DEFAULT_SCOPE, ttl=3600, client_id=AUDIENCE, **extra):
    """An access token like Cognito's: `sub`, `client_id`, `scope`, `iat`/`nbf`/`exp`."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": sub, "client_id": client_id, "token_use": "access",
              "scope": scope, "iat": now, "nbf": min(now, now + ttl), "exp": now + ttl,
              "jti": uuid.uuid4().hex, **extra}
    return jwt.encode(claims, _private_key(), algorithm="RS256", headers={"kid": key_id()})


class Rejected(Exception):
    """Why API Gateway's JWT authorizer would answer 401."""


def verify(token_text, audiences=(AUDIENCE,)):
    """What API Gateway's JWT authorizer checks: the signature (RS256, a key of the JWKS
    by `kid`), `iss`, `aud` or else `client_id`, `exp` and `nbf`. Returns the claims."""
    try:
        header = jwt.get_unverified_header(token_text)
    except jwt.PyJWTError as e:
        raise Rejected(f"not a JWT ({e})")
    if header.get("alg") != "RS256":
        raise Rejected(f"algorithm {header.get('alg')!r} is not RS256")
    if header.get("kid") != key_id():
        raise Rejected("no key of the issuer's JWKS has that kid")
    try:
        claims = jwt.decode(token_text, public_key(), algorithms=["RS256"], issuer=ISSUER,
                            options={"require": ["exp", "iss"], "verify_aud": False})
    except jwt.PyJWTError as e:
        raise Rejected(str(e))
    aud = claims.get("aud")
    audience = set(aud if isinstance(aud, list) else [aud] if aud else [])
    if not audience & set(audiences) and claims.get("client_id") not in audiences:
        raise Rejected("neither aud nor client_id is an accepted audience")
    return claims


def serve_jwks(port):
    """Serves the issuer's JWKS at http://127.0.0.1:PORT/.well-known/jwks.json from a daemon
    thread (what the function fetches with JWT_JWKS_URL); returns the server (`.shutdown()`)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(jwks()).encode()  # loaded once, out of the request path

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_GET(self):
            found = self.path == "/.well-known/jwks.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def function_settings(jwks_port):
    """The function's re-verification settings for this issuer, its JWKS on loopback."""
    return {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE,
            "JWT_JWKS_URL": f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json"}


def http_api_text(value):
    """A claim as HTTP API's JWT authorizer passes it on: strings as they are, arrays as
    "[a b]", anything else its JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(v if isinstance(v, str) else json.dumps(v) for v in value) + "]"
    return json.dumps(value)


def _java_date(epoch):
    """Epoch seconds as REST API's Cognito authorizer writes exp and iat."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch))


def signed_event(event, forge=None):
    """`event` as API Gateway would pass it for a fresh token of this issuer: the token carries
    the event's own user claims (sub, client_id, scope, ...) with this issuer's iss, a fresh
    exp/iat/nbf and this audience; the Authorization header holds it and the authorizer
    context renders its claims the way that front door does. `forge` (a dict) then overwrites
    context claims only — what a direct invoke with forged claims looks like."""
    event = json.loads(json.dumps(event))
    context = event["requestContext"]["authorizer"]
    rest = "jwt" not in context
    shown = context["claims"] if rest else context["jwt"]["claims"]
    now = int(time.time())
    claims = {k: v for k, v in shown.items() if k not in ("iss", "aud", "exp", "iat", "nbf", "auth_time")}
    claims.update({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600})
    token_text = jwt.encode(claims, _private_key(), algorithm="RS256", headers={"kid": key_id()})
    rendered = {k: _java_date(v) if rest and k in ("exp", "iat", "nbf") else http_api_text(v)
                for k, v in claims.items()}
    rendered.update(forge or {})
    if rest:
        context["claims"] = rendered
    else:
        context["jwt"]["claims"] = rendered
        context["jwt"]["scopes"] = claims["scope"].split() if isinstance(claims.get("scope"), str) else None
    headers = event.setdefault("headers", {})
    for name in [k for k in headers if k.lower() == "authorization"]:
        del headers[name]
    headers["Authorization" if rest else "authorization"] = token_text if rest else f"Bearer {token_text}"
    if rest and "multiValueHeaders" in event:
        event["multiValueHeaders"] = {k: v for k, v in event["multiValueHeaders"].items()
                                      if k.lower() != "authorization"}
        event["multiValueHeaders"]["Authorization"] = [token_text]
    return event
