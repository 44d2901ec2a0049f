"""Server documents in the Compute v2.1 wire format, built from instance index rows."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from api.views.links import Links
from cells import states

# Nova shows progress only while an instance is running or being built.
_PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD"})
_FAULT_STATUSES = frozenset({"ERROR", "DELETED"})
DEFAULT_AZ = "nova"
DEFAULT_SECURITY_GROUPS = [{"name": "default"}]


def _zulu(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _precise(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value else None


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: an opaque per-project digest of the host, "" before one is chosen."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode("utf-8")).hexdigest()


def instance_name(uuid: str) -> str:
    """The hypervisor's name of the instance's domain."""
    return f"instance-{uuid}"


def summary(row: Mapping[Any, Any], links: Links) -> dict[str, Any]:
    return {"id": row["uuid"], "name": row["name"], "links": links.resource("servers", row["uuid"])}


def _fault(fault: Mapping[Any, Any], fallback: dt.datetime | None, is_admin: bool) -> dict[str, Any]:
    code = fault.get("code", 500)
    code = code if isinstance(code, int) else 500
    doc: dict[str, Any] = {
        "code": code,
        "message": str(fault.get("message") or "Unknown error"),
        "created": _zulu(_parse_time(fault.get("created")) or fallback),
    }
    # Nova hides the details (a traceback, say) of internal faults from non-admins.
    if fault.get("details") and (is_admin or code != 500):
        doc["details"] = str(fault["details"])
    return doc


def detail(row: Mapping[Any, Any], links: Links, is_admin: bool) -> dict[str, Any]:
    """The full server document of Compute 2.1; operator-only fields for admins only."""
    status = states.api_status(row["vm_state"], row["task_state"])
    flavor = row["flavor"] or {}
    flavor_id = str(flavor.get("id", ""))
    doc: dict[str, Any] = {
        "id": row["uuid"],
        "name": row["name"],
        "status": status,
        "tenant_id": row["project_id"],
        "user_id": row["user_id"],
        "metadata": dict(row["metadata"] or {}),
        "hostId": host_id(row["project_id"], row["host"]),
        "image": {"id": row["image_ref"], "links": links.bookmark("images", row["image_ref"])},
        "flavor": {"id": flavor_id, "links": links.bookmark("flavors", flavor_id)},
        "created": _zulu(row["created_at"]),
        "updated": _zulu(row["updated_at"]),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links.resource("servers", row["uuid"]),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-STS:vm_state": row["vm_state"],
        "OS-EXT-STS:task_state": row["task_state"],
        "OS-EXT-STS:power_state": row["power_state"],
        "OS-EXT-AZ:availability_zone": row["availability_zone"] or DEFAULT_AZ,
        "OS-SRV-USG:launched_at": _precise(row["launched_at"]),
        "OS-SRV-USG:terminated_at": _precise(row["terminated_at"]),
        "key_name": row["key_name"],
        "config_drive": "",
        "security_groups": DEFAULT_SECURITY_GROUPS,
        "os-extended-volumes:volumes_attached": [],
    }
    if status in _PROGRESS_STATUSES:
        doc["progress"] = 0
    if is_admin:
        doc["OS-EXT-SRV-ATTR:host"] = row["host"]
        doc["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row["host"]
        doc["OS-EXT-SRV-ATTR:instance_name"] = instance_name(row["uuid"])
    if status in _FAULT_STATUSES and row["fault"]:
        doc["fault"] = _fault(row["fault"], row["updated_at"], is_admin)
    return doc


def created(uuid: str, admin_pass: str, links: Links) -> dict[str, Any]:
    """The 202 answer to a boot."""
    return {"server": {
        "id": uuid,
        "links": links.resource("servers", uuid),
        "adminPass": admin_pass,
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": DEFAULT_SECURITY_GROUPS,
    }}
