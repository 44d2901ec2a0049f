"""GET /v3/OS-JWKS (and /.well-known/jwks.json): the public signing keys, unauthenticated."""

from __future__ import annotations

import flask

from identity.service import current

bp = flask.Blueprint("jwks", __name__)


@bp.get("/v3/OS-JWKS")
@bp.get("/.well-known/jwks.json")
def jwks() -> flask.Response:
    """Every published key (primary, staged, secondary); verifiers may cache it briefly."""
    response = flask.jsonify(current().keys.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
