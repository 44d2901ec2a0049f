"""os-hypervisors (admin): every compute host of every compute cell, from capacity reports.

The API cell never reads a compute cell's database: what it shows is what
the cells last reported, at most one capacity interval old.
"""

from __future__ import annotations

from flask import Blueprint, Response

from api import deps
from api.deps import respond
from api.store import capacity
from api.views import hypervisors as views
from cells.exception import NotFound

bp = Blueprint("hypervisors", __name__, url_prefix="/v2.1/os-hypervisors")


def _hosts() -> list[dict]:
    return views.hosts(capacity.all_reports(deps.services().db))


@bp.get("")
def index() -> Response:
    return respond({"hypervisors": [views.summary(h) for h in _hosts()]})


@bp.get("/detail")
def detail() -> Response:
    hosts = _hosts()
    return respond({"hypervisors": [views.detail(h) for h in hosts]})


@bp.get("/statistics")
def statistics() -> Response:
    hosts = _hosts()
    return respond(views.statistics(views.detail(h) for h in hosts))


@bp.get("/<hypervisor_id>")
def show(hypervisor_id: str) -> Response:
    for host in _hosts():
        if host["id"] == hypervisor_id:
            return respond({"hypervisor": views.detail(host)})
    raise NotFound(f"Hypervisor with ID {hypervisor_id[:255]} could not be found.")
