"""Body of POST /servers (Compute 2.1, with the later ``networks: auto|none`` accepted)."""

from __future__ import annotations

from typing import Any

from api.schemas.common import METADATA, NAME, positive_int

MAX_COUNT = 100  # servers per request; bigger bursts belong in several requests

_NETWORK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "uuid": {"type": "string"},
        "port": {"type": ["string", "null"]},
        "fixed_ip": {"type": "string"},
        "tag": {"type": "string"},
    },
}

# Nova's block_device_mapping_v2 entries; what a boot may actually use is decided in api.compute.boot.
_BLOCK_DEVICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "uuid": {"type": "string", "maxLength": 255},
        "boot_index": {"type": ["integer", "string", "null"], "pattern": r"^-?[0-9]+$"},
        "source_type": {"enum": ["image", "volume", "snapshot", "blank"]},
        "destination_type": {"enum": ["local", "volume"]},
        "delete_on_termination": {"type": ["boolean", "string"]},
        "guest_format": {"type": "string", "maxLength": 255},
        "volume_size": {"type": ["integer", "string", "null"]},
        "device_name": {"type": ["string", "null"], "maxLength": 255},
        "device_type": {"type": ["string", "null"], "maxLength": 255},
        "disk_bus": {"type": ["string", "null"], "maxLength": 255},
        "no_device": {"type": ["boolean", "null"]},
        "tag": {"type": "string", "maxLength": 60},
        "volume_type": {"type": ["string", "null"], "maxLength": 255},
    },
}

CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["server"],
    "additionalProperties": False,
    "properties": {
        "server": {
            "type": "object",
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
            "properties": {
                "name": NAME,
                # Optional like Nova's: it may come as the boot device of block_device_mapping_v2.
                "imageRef": {"type": "string", "maxLength": 255},
                "block_device_mapping_v2": {"type": "array", "items": _BLOCK_DEVICE, "maxItems": 16},
                "flavorRef": {"type": ["string", "integer"], "minLength": 1, "maxLength": 255,
                              "minimum": 0},
                "metadata": METADATA,
                "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
                "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
                "min_count": positive_int(MAX_COUNT),
                "max_count": positive_int(MAX_COUNT),
                "return_reservation_id": {"type": ["boolean", "string"]},
                "networks": {"oneOf": [{"type": "array", "items": _NETWORK},
                                       {"enum": ["auto", "none"]}]},
                "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
                "adminPass": {"type": "string", "maxLength": 255},
                "OS-DCF:diskConfig": {"enum": ["AUTO", "MANUAL"]},
                "accessIPv4": {"type": "string"},
                "accessIPv6": {"type": "string"},
                "config_drive": {"type": ["boolean", "string"]},
                "security_groups": {"type": "array", "items": {
                    "type": "object", "properties": {"name": {"type": "string"}},
                    "additionalProperties": False}},
            },
        },
        # Scheduler hints are accepted and, having no hint filters, ignored.
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
}
