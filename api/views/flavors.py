"""Flavor documents in the Compute v2.1 wire format."""

from __future__ import annotations

from typing import Any

from api.views.links import Links


def summary(flavor: dict[str, Any], links: Links) -> dict[str, Any]:
    return {"id": flavor["flavorid"], "name": flavor["name"],
            "links": links.resource("flavors", flavor["flavorid"])}


def detail(flavor: dict[str, Any], links: Links) -> dict[str, Any]:
    return {
        "id": flavor["flavorid"],
        "name": flavor["name"],
        "ram": flavor["memory_mb"],
        "vcpus": flavor["vcpus"],
        "disk": flavor["root_gb"],
        "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral_gb"],
        "OS-FLV-DISABLED:disabled": bool(flavor["disabled"]),
        # Nova shows no swap as an empty string, not 0.
        "swap": flavor["swap"] or "",
        "rxtx_factor": flavor["rxtx_factor"],
        "os-flavor-access:is_public": bool(flavor["is_public"]),
        "links": links.resource("flavors", flavor["flavorid"]),
    }


def embedded(flavor: dict[str, Any]) -> dict[str, Any]:
    """The flavor as a build request and the instance index carry it."""
    return {
        "id": flavor["flavorid"],
        "name": flavor["name"],
        "vcpus": flavor["vcpus"],
        "ram": flavor["memory_mb"],
        "disk": flavor["root_gb"],
        "ephemeral": flavor["ephemeral_gb"],
        "swap": flavor["swap"],
        "extra_specs": dict(flavor["extra_specs"] or {}),
    }
