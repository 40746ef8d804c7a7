"""The client contract, docs/openapi.yaml, as a check: does an answer of the function match
what the description allows for `POST /sessions`? Used by the end-to-end run on every answer
(openapi-core, a maintained OpenAPI 3.1 validator; nothing hand-rolled)."""

from functools import lru_cache

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from .common import ROOT

SPEC = ROOT / "docs" / "openapi.yaml"
SERVER = "http://127.0.0.1:9000"  # one of the description's servers


@lru_cache(maxsize=1)
def _openapi():
    return OpenAPI.from_file_path(str(SPEC))


def problems(status, headers, body):
    """What docs/openapi.yaml does not allow in this answer to POST /sessions (empty: it allows it).
    `headers` maps lower-case names to values; `body` is the text. Every answer of the function is
    checked against the POST operation, 405 included: that is where the description documents it."""
    request = MockRequest(SERVER, "post", "/sessions")
    response = MockResponse(data=(body or "").encode(), status_code=status, headers=dict(headers),
                            content_type=headers.get("content-type", "application/json"))
    try:
        _openapi().validate_response(request, response)
    except Exception as failure:  # openapi-core raises one of several validation errors
        reasons = [str(failure)] + [str(e) for e in getattr(failure, "schema_errors", ())]
        return [f"docs/openapi.yaml does not allow it: {'; '.join(reasons)[:400]}"]
    return []
