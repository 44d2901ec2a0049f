"""The Compute v2.1 WSGI application: routes, error format, microversions, request ids, auth.

``create_app`` wires a Flask app to the API cell's database, the scheduler
and cells RPC clients and the image service, and wraps it in the token and
policy middleware (the "compute" table of the policy file); tests pass their
own database, verifier, clients and image lookup.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

from api import cell_local, deps, errors, microversion, policy
from api.deps import URL_PROJECT_KEY, Services
from api.flavor_cache import FlavorCache
from api.handlers import accounting, cells, flavors, hypervisors, prestages, servers, usage, versions
from api.image_lookup import CachedImageLookup, HttpImageLookup, ImageLookupFn
from api.snapshot_images import HttpSnapshotImages, SnapshotImages
from api.views.links import VERSION_PREFIX
from cells.config import CellConfig
from cells.db.engine import DATABASES, Database
from cells.exception import BadRequest, ConfigError
from cells.rpcapi import CellsAPI
from identity.middleware import AuthMiddleware, TokenVerifier
from scheduler.rpcapi import SchedulerAPI

LOG = logging.getLogger(__name__)

REQUEST_ID_KEY = "cloud.request_id"
PUBLIC_PATHS = ("/", VERSION_PREFIX)
# With the broker down, a request gives up after this many reconnection
# attempts and answers 503, rather than hanging.
CAST_RETRIES = 2


class Edge:
    """Outermost WSGI layer: request ids, the optional project id in URLs, an access log line.

    Nova accepts ``/v2.1/{project_id}/servers`` as well as ``/v2.1/servers``;
    the project segment is lifted out of the path here so routing (and the
    token middleware's public paths) see one shape.
    """

    def __init__(self, app: Callable[..., Any], collections: frozenset[str]) -> None:
        self.app = app
        self.collections = collections

    def _rewrite(self, environ: dict[str, Any]) -> None:
        path = environ.get("PATH_INFO") or "/"
        if path == VERSION_PREFIX + "/":
            environ["PATH_INFO"] = VERSION_PREFIX
            return
        if not path.startswith(VERSION_PREFIX + "/"):
            return
        segment, sep, rest = path[len(VERSION_PREFIX) + 1:].partition("/")
        if sep and rest and segment not in self.collections:
            environ[URL_PROJECT_KEY] = segment
            environ["PATH_INFO"] = f"{VERSION_PREFIX}/{rest}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        request_id = "req-" + str(uuid.uuid4())
        environ[REQUEST_ID_KEY] = request_id
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        self._rewrite(environ)
        status_seen: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_seen.append(status)
            headers.append(("x-openstack-request-id", request_id))
            headers.append(("x-compute-request-id", request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            LOG.info("%s %s %s %s %.1fms", request_id, method, path,
                     status_seen[0].split(" ", 1)[0] if status_seen else "-",
                     (time.monotonic() - started) * 1000)


def _collections(app: Flask) -> frozenset[str]:
    """First path segments under /v2.1 that are ours (anything else there is a project id)."""
    names = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(VERSION_PREFIX + "/"):
            names.add(rule.rule[len(VERSION_PREFIX) + 1:].split("/", 1)[0])
    return frozenset(names)


def _before() -> Response | None:
    path = request.path
    if path in PUBLIC_PATHS or not path.startswith(VERSION_PREFIX + "/"):
        return None
    microversion.negotiate(request.headers)
    url_project = request.environ.get(URL_PROJECT_KEY)
    if url_project is not None:
        ctxt = policy.context()
        if ctxt.project_id is not None and url_project != ctxt.project_id:
            raise BadRequest(f"Malformed request URL: URL's project_id '{url_project[:64]}' doesn't "
                             f"match Context's project_id '{ctxt.project_id}'")
    return None


def _after(response: Response) -> Response:
    if request.path.startswith(VERSION_PREFIX + "/"):
        for name, value in microversion.RESPONSE_HEADERS:
            response.headers[name] = value
    return response


def _images_url(conf: CellConfig) -> str:
    if conf.images is None:
        raise ConfigError(f"{conf.source}: key 'images.public_url': expected the image service's URL "
                          "(cloud-api checks images before a boot and creates snapshot images)")
    return conf.images.public_url


def _default_image_lookup(conf: CellConfig) -> ImageLookupFn:
    threads = conf.api.threads if conf.api else 16
    return CachedImageLookup(HttpImageLookup(_images_url(conf), pool_size=threads))


def create_app(conf: CellConfig, db: Database | None = None, verifier: TokenVerifier | None = None,
               scheduler_api: Any = None, cells_api: Any = None,
               image_lookup: ImageLookupFn | None = None,
               snapshot_images: SnapshotImages | None = None) -> Flask:
    """Return the Compute API WSGI app for the cell ``conf``; raises ConfigError if misconfigured.

    A compute cell gets its cell-local read API instead (api/cell_local.py).
    """
    if db is None:
        db = DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                           max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    if conf.type == "compute":
        return _create_cell_app(conf, db, verifier)
    if scheduler_api is None:
        scheduler_api = SchedulerAPI(conf.broker_url, retry=CAST_RETRIES)
    if cells_api is None:
        cells_api = CellsAPI(conf.broker_url, retry=CAST_RETRIES)
    if image_lookup is None:
        image_lookup = _default_image_lookup(conf)
    if snapshot_images is None:
        snapshot_images = HttpSnapshotImages(_images_url(conf))

    app = Flask("api", static_folder=None)
    app.extensions[deps.CONF_EXTENSION] = conf
    app.extensions[deps.DB_EXTENSION] = db
    app.extensions[deps.EXTENSION] = Services(
        conf=conf, db=db, flavors=FlavorCache(db), image_lookup=image_lookup,
        scheduler_api=scheduler_api, cells_api=cells_api, snapshot_images=snapshot_images)
    errors.register(app)
    for module in (versions, flavors, servers, hypervisors, cells, prestages, usage, accounting):
        app.register_blueprint(module.bp)
    app.before_request(_before)
    app.after_request(_after)
    auth = AuthMiddleware(app.wsgi_app, conf, verifier=verifier, error_body=errors.fault_body,
                          enforcer="compute", url_map=app.url_map)
    app.wsgi_app = Edge(auth, _collections(app))  # type: ignore[method-assign]
    return app


def _create_cell_app(conf: CellConfig, db: Database, verifier: TokenVerifier | None) -> Flask:
    """The read-only Compute API of a compute cell, over its own database (the "compute_cell" table)."""
    app = Flask("api", static_folder=None)
    app.extensions[deps.CONF_EXTENSION] = conf
    app.extensions[deps.DB_EXTENSION] = db
    errors.register(app)
    app.register_blueprint(versions.bp)
    app.register_blueprint(cell_local.bp)
    app.before_request(_before)
    app.before_request(cell_local.guard(PUBLIC_PATHS))
    app.after_request(_after)
    auth = AuthMiddleware(app.wsgi_app, conf, verifier=verifier, error_body=errors.fault_body,
                          enforcer="compute_cell", url_map=app.url_map)
    app.wsgi_app = Edge(cell_local.ReadOnly(auth), _collections(app))  # type: ignore[method-assign]
    return app
