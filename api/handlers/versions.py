"""Version discovery: GET / and GET /v2.1/ (public: clients ask before they have a token)."""

from __future__ import annotations

from flask import Blueprint, Response

from api import deps
from api.deps import respond
from api.views import versions as views

bp = Blueprint("versions", __name__)


@bp.get("/")
def root() -> Response:
    return respond(views.versions(deps.links()))


@bp.get("/v2.1")
def v21() -> Response:
    return respond(views.version(deps.links()))
