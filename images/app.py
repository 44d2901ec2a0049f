"""The Image v2 WSGI application: the master registry and store, or a cell's read-through cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request

from cells.config import CellConfig
from cells.db.engine import DATABASES, Database
from cells.exception import ConfigError, Forbidden
from identity.middleware import AuthMiddleware, TokenVerifier
from identity.service_token import ServiceToken
from images import errors, policy, relay, runtime
from images.cache import ImageCache
from images.handlers import cache as cache_handlers
from images.handlers import image_data, images, members, quotas, schemas, tags, versions
from images.master import MasterClient
from images.registry import Registry
from images.runtime import Runtime
from images.store.base import Store
from images.store.filesystem import FilesystemStore

# Version discovery: public in the policy table, and open to anyone on a cell's cache too.
PUBLIC_PATHS = ("/", "/versions", "/v2", "/v2/")
_READS = ("GET", "HEAD")
# Partial writes untouched this long belong to no live upload.
_PARTIAL_MAX_AGE = 24 * 3600


def create_app(conf: CellConfig, db: Database | None = None, verifier: TokenVerifier | None = None, *,
               store: Store | None = None, master_token: Callable[[], str] | None = None) -> Flask:
    """Return the image service of the cell ``conf`` describes, wrapped in token verification.

    With ``conf.image_master_url`` set it is a read-only cache of that master,
    fetching with ``master_token()`` (by default the cell's service token).
    """
    db = db or DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                             max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    if store is None:
        if not conf.image_store_dir:
            raise ConfigError(f"{conf.source}: key 'images.store_dir': expected a directory")
        try:
            store = FilesystemStore(conf.image_store_dir)
            store.purge_partial(_PARTIAL_MAX_AGE)
        except OSError as exc:
            raise ConfigError(f"{conf.source}: key 'images.store_dir': cannot use "
                              f"{conf.image_store_dir} ({exc.strerror})") from exc
    registry = Registry(db)
    cache = None
    if conf.image_master_url:
        if master_token is not None:
            master = MasterClient(conf.image_master_url, master_token)
        else:
            service_token = ServiceToken(conf)
            master = MasterClient(conf.image_master_url, service_token.get, service_token.invalidate)
        cache = ImageCache(registry, store, master, conf.image_cache_max_bytes)

    app = Flask("images", static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["images"] = Runtime(conf, registry, store, cache)
    errors.register(app)
    for bp in (versions.bp, schemas.bp, images.bp, image_data.bp, tags.bp, quotas.bp, cache_handlers.bp):
        app.register_blueprint(bp)
    if cache is None:
        # Members live in the master registry only; a cell's cache copies images, not their members.
        app.register_blueprint(members.bp)
    if cache is not None:
        app.before_request(_cache_guard)
    app.wsgi_app = AuthMiddleware(app.wsgi_app, conf, verifier=verifier, service="images",  # type: ignore[method-assign]
                                  error_body=errors.error_body, enforcer="image", url_map=app.url_map)
    if cache is not None:
        app.wsgi_app = _ReadOnly(app.wsgi_app)  # type: ignore[method-assign]
    return app


class _ReadOnly:
    """A cell's cache refuses writes whoever asks, before tokens and policy: they belong to the master.

    The exception is the snapshot writes of the cell's agents, relayed to the master (images/relay.py).
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        if method in _READS or relay.is_relayed(method, environ.get("PATH_INFO") or "/"):
            return self.app(environ, start_response)
        body = json.dumps(errors.error_body(405, (
            "This image service is a read-only cache of the master image service; "
            f"send {method[:16]} requests to the master."))).encode("utf-8")
        start_response("405 Method Not Allowed", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))])
        return [body]


def _cache_guard() -> None:
    """A cell's cache serves the cell's service accounts (and admins) only."""
    if request.path in PUBLIC_PATHS:
        return
    if not policy.reads_all(runtime.context()):
        raise Forbidden("This cell's image cache serves the cell's service accounts only.")
