"""Pre-staging on one host: copy an image into the host's cache ahead of a boot storm.

The cell's scheduler calls this once per host (``prestage_image``), naming the
source: the cell's image endpoint, or a peer host that already holds the image.
Every copy is verified against the SHA-512 and size the scheduler passed, so a
peer can never plant bad data. A peer that fails (unreachable, wrong data)
makes the host fall back to the cell's endpoint, and the answer says so; the
scheduler then stops using that peer as a source.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from cells.exception import CloudError
from compute_agent.env import HostEnv
from compute_agent.peer_images import PeerSource
from compute_agent.rpcapi import PRESTAGE_CACHED as CACHED
from compute_agent.rpcapi import PRESTAGE_ENDPOINT as ENDPOINT
from compute_agent.rpcapi import PRESTAGE_PEER as PEER

LOG = logging.getLogger(__name__)


def _checked(image: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a verified copy needs; raises ValueError naming what is missing."""
    if not image.get("id"):
        raise ValueError("the image metadata has no id")
    if not image.get("os_hash_value") or not image.get("os_hash_algo"):
        raise ValueError("the image metadata has no sha512 (os_hash_algo, os_hash_value)")
    if not isinstance(image.get("size"), int):
        raise ValueError("the image metadata has no size")
    return {k: image[k] for k in ("id", "os_hash_algo", "os_hash_value", "size")}


def run(env: HostEnv, image: Mapping[str, Any], source: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy ``image`` into this host's cache from ``source`` (None: the cell's image endpoint,
    else ``{"host", "url"}`` of a peer); returns what happened.

    The answer is ``{host, image_id, ok, source (cached|endpoint|peer), peer, fallback,
    bytes, seconds, serve_url, error}``: ``fallback`` holds why the peer failed when the
    copy came from the endpoint instead; ``serve_url`` is where this host now serves the
    image to others (None if it does not). Failures are answered, not raised.
    """
    started = time.monotonic()
    result: dict[str, Any] = {"host": env.host, "image_id": str(image.get("id")), "ok": False,
                              "source": None, "peer": None, "fallback": None, "bytes": 0,
                              "seconds": 0.0, "serve_url": None, "error": None}
    try:
        meta = _checked(image)
        _copy(env, meta, source, result)
    except ValueError as exc:
        result["error"] = str(exc)
    except (CloudError, OSError) as exc:
        result["error"] = exc.message if isinstance(exc, CloudError) else f"{type(exc).__name__}: {exc}"
    result["seconds"] = round(time.monotonic() - started, 3)
    if result["ok"]:
        result["serve_url"] = env.peer_url
        LOG.info("host %s: image %s pre-staged (%s, %d bytes, %.1f s)", env.host, result["image_id"],
                 result["source"] if not result["peer"] else f"peer {result['peer']}",
                 result["bytes"], result["seconds"])
    else:
        LOG.warning("host %s: pre-staging image %s failed: %s", env.host, result["image_id"],
                    result["error"])
    return result


def _copy(env: HostEnv, meta: dict[str, Any], source: Mapping[str, Any] | None,
          result: dict[str, Any]) -> None:
    cache = env.images
    if source and source.get("url"):
        peer = str(source.get("host") or source["url"])
        try:
            _path, written = cache.obtain(meta, PeerSource(str(source["url"]), cache.client.tokens,
                                                           cache.client.timeout))
        except CloudError as exc:
            # Unreachable, refused, or data that failed verification (nothing was kept).
            LOG.warning("host %s: image %s from peer %s failed (%s); using the cell's endpoint",
                        env.host, meta["id"], peer, exc.message)
            result["fallback"] = f"peer {peer}: {exc.message}"
        else:
            result.update(ok=True, bytes=written, source=PEER if written else CACHED,
                          peer=peer if written else None)
            return
    _path, written = cache.obtain(meta)
    result.update(ok=True, bytes=written, source=ENDPOINT if written else CACHED)
