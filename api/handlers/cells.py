"""os-cells (admin; our extension): the cell tree below this cell with every cell's capacity."""

from __future__ import annotations

from flask import Blueprint, Response

from api import deps
from api.deps import respond
from api.store import capacity
from api.views import cells as views

bp = Blueprint("cells", __name__, url_prefix="/v2.1/os-cells")


@bp.get("")
def index() -> Response:
    services = deps.services()
    conf = services.conf
    reports = capacity.all_reports(services.db)
    return respond(views.cell_tree(conf.path, conf.type, [c.path for c in conf.children], reports))
