"""Where one host's files live under the cell's state_dir.

``<state_dir>/hosts/<host>/`` holds the agent's identity and lock, the
simulated node document, the image cache, the disk pool, snapshots being
uploaded and one directory per instance (console log, guest spec).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from cells.exception import ConfigError

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is safe as one path component; raises ConfigError otherwise."""
    if not _SAFE.match(value) or value in (".", ".."):
        raise ConfigError(f"{kind} {value!r} is not valid: use letters, digits, '.', '_' and '-'")
    return value


@dataclass(frozen=True)
class HostPaths:
    root: str

    @classmethod
    def of(cls, state_dir: str, host: str) -> HostPaths:
        """Return the paths of ``host``; raises ConfigError for a host name unfit for a path."""
        return cls(os.path.join(os.path.abspath(state_dir), "hosts", check_name("host name", host)))

    @property
    def identity(self) -> str:
        return os.path.join(self.root, "identity")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "agent.lock")

    @property
    def node_xml(self) -> str:
        return os.path.join(self.root, "node.xml")

    @property
    def images(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def disks(self) -> str:
        return os.path.join(self.root, "disks")

    @property
    def instances(self) -> str:
        return os.path.join(self.root, "instances")

    @property
    def snapshots(self) -> str:
        return os.path.join(self.root, "snapshots")

    def instance_dir(self, uuid: str) -> str:
        return os.path.join(self.instances, check_name("instance uuid", uuid))

    def console_log(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "console.log")

    def spec_file(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "guest.json")

    def make(self) -> None:
        """Create the host's directories, traversable by the hypervisor's user."""
        for path in (self.root, self.images, self.disks, self.instances, self.snapshots):
            os.makedirs(path, mode=0o755, exist_ok=True)
