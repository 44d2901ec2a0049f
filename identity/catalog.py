"""The service catalog handed out with scoped tokens, built once from the cell's configuration."""

from __future__ import annotations

import uuid
from typing import Any

from cells.config import CellConfig

INTERFACES = ("public", "internal", "admin")
# Stable ids: the same cell always hands out the same catalog.
_NAMESPACE = uuid.UUID("5b0e7c86-58f1-4bb4-9a1c-6d0f4f0c2a11")


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, "|".join(parts)).hex


def _service(conf: CellConfig, service_type: str, name: str, url: str) -> dict[str, Any]:
    return {
        "id": _stable_id(conf.path, service_type),
        "type": service_type,
        "name": name,
        "endpoints": [
            {"id": _stable_id(conf.path, service_type, interface), "interface": interface,
             "region": conf.region, "region_id": conf.region, "url": url}
            for interface in INTERFACES
        ],
    }


def build_catalog(conf: CellConfig) -> list[dict[str, Any]]:
    """Return the Keystone v3 catalog of the cell's HTTP services that are configured."""
    catalog = []
    if conf.identity:
        catalog.append(_service(conf, "identity", "keystone", conf.identity.public_url + "/v3"))
    if conf.api:
        catalog.append(_service(conf, "compute", "nova", conf.api.public_url + "/v2.1"))
    if conf.images:
        catalog.append(_service(conf, "image", "glance", conf.images.public_url))
    return catalog
