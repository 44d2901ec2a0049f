"""What handlers work with: the settings, database, caches and RPC clients of one app, and replies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request

from api.flavor_cache import FlavorCache
from api.image_lookup import ImageLookupFn
from api.snapshot_images import SnapshotImages
from api.views.links import Links, clean_base
from cells.config import CellConfig
from cells.db.engine import Database

EXTENSION = "cloud-api"
# The settings and database of either kind of app (a compute cell's has no other Services).
CONF_EXTENSION = "cloud-api.conf"
DB_EXTENSION = "cloud-api.db"
URL_PROJECT_KEY = "cloud.url_project_id"


@dataclass(frozen=True)
class Services:
    conf: CellConfig
    db: Database
    flavors: FlavorCache
    image_lookup: ImageLookupFn
    scheduler_api: Any
    cells_api: Any
    snapshot_images: SnapshotImages


def services() -> Services:
    """Return the Services of the app serving the current request."""
    return current_app.extensions[EXTENSION]


def conf() -> CellConfig:
    """Return the settings of the app serving the current request."""
    return current_app.extensions[CONF_EXTENSION]


def db() -> Database:
    """Return the database of the app serving the current request."""
    return current_app.extensions[DB_EXTENSION]


def links() -> Links:
    """Return the link builder for the current request (public URL, project in the URL or not)."""
    conf = current_app.extensions[CONF_EXTENSION]
    base = clean_base(conf.api.public_url) if conf.api else request.host_url.rstrip("/")
    return Links(base, request.environ.get(URL_PROJECT_KEY))


def respond(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
