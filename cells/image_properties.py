"""Image properties the compute agent honours, with their allowed values.

Shared by images/ (refuses a bad value at create and update, so a typo fails
at the API instead of at boot) and compute_agent/ (turns them into domain XML).
Properties not listed here are stored and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cells.exception import BadRequest

# name -> allowed values (None: any string).
KNOWN: dict[str, tuple[str, ...] | None] = {
    "os_distro": None,
    "os_type": ("linux", "windows"),
    "hw_disk_bus": ("virtio", "scsi", "sata", "ide", "usb"),
    "hw_vif_model": ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet"),
    "hw_firmware_type": ("bios", "uefi"),
}

# Device name prefix of a disk on each bus, as libvirt names them.
DISK_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd"}


def check(properties: Mapping[str, Any]) -> None:
    """Raise BadRequest naming the property and its allowed values for a bad value of a known one."""
    for name, allowed in KNOWN.items():
        if name not in properties:
            continue
        value = properties[name]
        if not isinstance(value, str):
            raise BadRequest(f"Image property '{name}' must be a string, not {type(value).__name__}.")
        if allowed is not None and value not in allowed:
            raise BadRequest(f"Invalid value '{value}' for image property '{name}': "
                             f"allowed values are {', '.join(allowed)}.")


def hypervisor_properties(properties: Mapping[str, Any] | None) -> dict[str, str]:
    """Return only the known properties with valid values; anything else is ignored."""
    out: dict[str, str] = {}
    for name, allowed in KNOWN.items():
        value = (properties or {}).get(name)
        if isinstance(value, str) and (allowed is None or value in allowed):
            out[name] = value
    return out
