"""What handlers work with: the cell's settings, the registry, the store and (in a cell) the cache."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from cells.config import CellConfig
from cells.context import RequestContext
from cells.exception import Unauthorized
from images.cache import ImageCache
from images.registry import Registry
from images.store.base import Store


@dataclass
class Runtime:
    conf: CellConfig
    registry: Registry
    store: Store
    cache: ImageCache | None = None

    @property
    def is_cache(self) -> bool:
        return self.cache is not None


def current() -> Runtime:
    """Return the runtime of the app serving the current request."""
    runtime: Runtime = current_app.extensions["images"]
    return runtime


def context() -> RequestContext:
    """Return the caller's context, set by the token middleware; raises Unauthorized if absent."""
    ctx = request.environ.get("cloud.context")
    if not isinstance(ctx, RequestContext):
        raise Unauthorized("The request you have made requires authentication.")
    return ctx
