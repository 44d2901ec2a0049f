"""Load and validate the YAML configuration of one cell.

One file describes one cell: its place in the tree, its database and broker,
its children's brokers and the endpoints of its services. Every daemon of the
cell reads the same file; a wrong or missing key stops the daemon with one
line naming the file, the key and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cells import tree
from cells.exception import ConfigError

_URL = {"type": "string", "minLength": 1}
_LISTEN = {"type": "string", "pattern": r"^[^:]+:\d{1,5}$"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"}

_ENDPOINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["listen", "public_url"],
    "properties": {
        "listen": _LISTEN,
        "public_url": _URL,
        "threads": {"type": "integer", "minimum": 1, "maximum": 512},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["cell", "database", "broker"],
    "properties": {
        "cell": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "type"],
            "properties": {
                "name": _NAME,
                "type": {"enum": ["api", "site", "compute"]},
                "parent": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path", "broker_url"],
                    "properties": {"path": {"type": "string"}, "broker_url": _URL},
                },
                "children": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "broker_url"],
                        "properties": {"name": _NAME, "broker_url": _URL},
                    },
                },
            },
        },
        "database": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": _URL,
                "pool_size": {"type": "integer", "minimum": 1},
                "max_overflow": {"type": "integer", "minimum": 0},
                "deadlock_retries": {"type": "integer", "minimum": 0, "maximum": 50},
            },
        },
        "broker": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {"url": _URL},
        },
        "state_dir": {"type": "string"},
        "region": {"type": "string"},
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
                "file": {"type": ["string", "null"]},
            },
        },
        "auth": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "identity_url": _URL,
                "trusted_issuers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["issuer", "jwks_url"],
                        "properties": {
                            "issuer": {"type": "string"},
                            "jwks_url": _URL,
                            "roles": {"type": "array", "items": {"type": "string"}},
                            "services": {"type": "array", "items": {
                                "enum": ["api", "identity", "images"]}},
                        },
                    },
                },
                "service_user": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "password_file"],
                    "properties": {
                        "name": {"type": "string"},
                        "password_file": {"type": "string"},
                        "project": {"type": "string"},
                    },
                },
                "token_ttl": {"type": "integer", "minimum": 60},
                "jwks_refresh": _POSITIVE,
                "revocation_poll": _POSITIVE,
                "policy_file": {"type": "string"},
            },
        },
        "identity": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **_ENDPOINT["properties"],
                "key_repository": {"type": "string"},
                "password_hash_cost": {"type": "integer", "minimum": 10, "maximum": 20},
                "service_accounts_only": {"type": "boolean"},
                "lockout_failures": {"type": "integer", "minimum": 0},
                "lockout_duration": _POSITIVE,
                "personal_quota_class": {"type": "string", "minLength": 1},
                "max_key_count": {"type": "integer", "minimum": 3},
            },
        },
        "images": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **_ENDPOINT["properties"],
                "store_dir": {"type": "string"},
                "master_url": _URL,
                "cache_max_bytes": {"type": "integer", "minimum": 0},
                "default_quota": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "images": {"type": "integer", "minimum": -1},
                        "image_bytes": {"type": "integer", "minimum": -1},
                        "snapshot_bytes": {"type": "integer", "minimum": -1},
                    },
                },
            },
        },
        "api": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **_ENDPOINT["properties"],
                "max_limit": {"type": "integer", "minimum": 1},
            },
        },
        "scheduler": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "weigher": {"enum": ["spread", "pack"]},
                "cpu_allocation_ratio": _POSITIVE,
                "ram_allocation_ratio": _POSITIVE,
                "disk_allocation_ratio": _POSITIVE,
                "refresh_interval": _POSITIVE,
                "prestage": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "endpoint_copies": {"type": "integer", "minimum": 1, "maximum": 64},
                        "peer_copies": {"type": "integer", "minimum": 0, "maximum": 16},
                        "max_parallel": {"type": "integer", "minimum": 1, "maximum": 1024},
                        "copy_timeout": _POSITIVE,
                        "progress_interval": _POSITIVE,
                    },
                },
            },
        },
        "compute": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "libvirt_uri": {"type": "string"},
                "virt_type": {"enum": ["kvm", "qemu"]},
                "guest_network": {"type": "string",
                                  "pattern": "^(none|user|(network|bridge):[A-Za-z0-9_.-]+)$"},
                "heartbeat_interval": _POSITIVE,
                "service_down_time": _POSITIVE,
                "workers": {"type": "integer", "minimum": 1, "maximum": 256},
                "peer_listen": _LISTEN,
                "peer_address": {"type": "string", "pattern": r"^(\[[0-9A-Fa-f:.]+\]|[^\s/:@\[\]]+)$"},
                "simulated_host": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "cpus": {"type": "integer", "minimum": 1},
                        "memory_mb": {"type": "integer", "minimum": 256},
                        "disk_gb": {"type": "integer", "minimum": 1},
                        "cpu_model": {"type": "string"},
                        "hs06_per_core": _POSITIVE,
                    },
                },
            },
        },
        "metering": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "poll_interval": _POSITIVE,
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000},
                "hour_seconds": {"type": "number", "minimum": 1, "maximum": 3600},
                "raw_retention": _POSITIVE,
                "rollup_interval": _POSITIVE,
                "metadata_refresh": _POSITIVE,
                "gather_interval": _POSITIVE,
                "gather_batch": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
        },
        "cells": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "capacity_interval": _POSITIVE,
                "sync_interval": _POSITIVE,
                "sync_batch": {"type": "integer", "minimum": 1},
                "transition_timeout": _POSITIVE,
            },
        },
    },
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    public_url: str
    threads: int = 16


@dataclass(frozen=True)
class ChildCell:
    name: str
    path: str
    broker_url: str


@dataclass(frozen=True)
class TrustedIssuer:
    """Another cell's identity whose tokens some services of this cell accept.

    A token of ``issuer`` is accepted if its audience is this cell or the
    issuer's own cell, it holds one of ``roles`` (if any are listed), and the
    verifying service is among ``services`` (all, if none are listed).
    """

    issuer: str
    jwks_url: str
    roles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceUser:
    name: str
    password_file: str
    project: str = "service"

    def password(self) -> str:
        """Return the password read from its file; raises ConfigError if unreadable."""
        try:
            return Path(self.password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"auth.service_user.password_file: cannot read ({exc.strerror})") from exc


@dataclass(frozen=True)
class SimulatedHost:
    cpus: int = 32
    memory_mb: int = 131072
    disk_gb: int = 2000
    cpu_model: str = "Broadwell"
    hs06_per_core: float = 10.0


@dataclass(frozen=True)
class PrestageSettings:
    """How a compute cell's scheduler pushes an image to its hosts (scheduler.prestage)."""

    endpoint_copies: int = 2  # copies the cell's image endpoint serves at once
    peer_copies: int = 1  # copies a host holding the image serves at once (0: no tree)
    max_parallel: int = 64  # copies in flight at once, whatever their source
    copy_timeout: float = 900.0  # seconds one host may take for one copy
    progress_interval: float = 2.0  # seconds between progress reports to the API cell


@dataclass(frozen=True)
class CellConfig:
    """Typed settings of one cell, as read from its YAML file."""

    source: str
    name: str
    path: str
    type: str
    parent_path: str | None
    parent_broker_url: str | None
    children: tuple[ChildCell, ...]
    database_url: str
    broker_url: str
    state_dir: str
    region: str = "RegionOne"
    log_level: str = "INFO"
    log_file: str | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 20
    deadlock_retries: int = 10
    identity_url: str | None = None
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    service_user: ServiceUser | None = None
    token_ttl: int = 3600
    jwks_refresh: float = 60.0
    revocation_poll: float = 5.0
    policy_file: str | None = None
    identity: Endpoint | None = None
    key_repository: str | None = None
    password_hash_cost: int = 14
    service_accounts_only: bool = False
    lockout_failures: int = 5
    lockout_duration: float = 300.0
    personal_quota_class: str = "personal"
    max_key_count: int = 3
    images: Endpoint | None = None
    image_store_dir: str | None = None
    image_master_url: str | None = None
    image_cache_max_bytes: int = 50 * 2**30
    # Per-project image limits unless set for the project (-1: unlimited).
    image_quota_images: int = 100
    image_quota_image_bytes: int = 1024 * 2**30
    image_quota_snapshot_bytes: int = 1024 * 2**30
    api: Endpoint | None = None
    api_max_limit: int = 1000
    weigher: str = "spread"
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    scheduler_refresh_interval: float = 5.0
    prestage: PrestageSettings = field(default_factory=PrestageSettings)
    libvirt_uri: str = "test:///auto"
    virt_type: str = "kvm"
    # Each guest's NIC: none, user (QEMU user-mode NAT), network:NAME or bridge:NAME.
    guest_network: str = "user"
    heartbeat_interval: float = 10.0
    service_down_time: float = 60.0
    compute_workers: int = 16
    # Where the agents of a process serve their cached images to other hosts (pre-staging);
    # port 0 picks a free one. peer_address: the name other hosts reach it by (None: the listen
    # address, or this machine's name when listening on every address).
    peer_listen: str = "0.0.0.0:0"
    peer_address: str | None = None
    simulated_host: SimulatedHost = field(default_factory=SimulatedHost)
    capacity_interval: float = 10.0
    sync_interval: float = 60.0
    sync_batch: int = 200
    transition_timeout: float = 600.0
    # How often each compute agent samples its guests, and samples per notification.
    metering_poll_interval: float = 300.0
    metering_batch_size: int = 500
    # Length of one rollup bucket, in seconds: an hour, shortened only by tests and demos.
    metering_hour_seconds: float = 3600.0
    # Compute cells' collectors: raw samples kept this long (seconds); touched hours re-rolled
    # every rollup_interval; instance and host metadata re-read from the cell-local API every
    # metadata_refresh.
    metering_raw_retention: float = 7 * 86400.0
    metering_rollup_interval: float = 10.0
    metering_metadata_refresh: float = 60.0
    # API cell: how often each compute cell is asked for its new rollups, and at most how many
    # come back per answer.
    metering_gather_interval: float = 60.0
    metering_gather_batch: int = 1000

    @property
    def is_root(self) -> bool:
        return self.parent_path is None

    def child(self, name_or_path: str) -> ChildCell:
        """Return the child cell by name or path; raises KeyError if it is not a child."""
        for child in self.children:
            if name_or_path in (child.name, child.path):
                return child
        raise KeyError(name_or_path)


def _key_of(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1]
        parts.append(missing)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1]
        parts.append(extra)
    return ".".join(parts) or "(top level)"


def _expected(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return "a required key is missing"
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        return "unknown key (allowed: " + ", ".join(sorted(schema.get("properties", {}))) + ")"
    if error.validator == "enum":
        allowed = error.validator_value if isinstance(error.validator_value, list) else []
        return "one of " + ", ".join(repr(v) for v in allowed)
    if error.validator == "type":
        return f"a value of type {error.validator_value}"
    if error.validator == "pattern":
        return f"a value matching {error.validator_value}"
    return error.message


def _endpoint(section: dict[str, Any] | None) -> Endpoint | None:
    if not section or "listen" not in section:
        return None
    host, _, port = section["listen"].rpartition(":")
    return Endpoint(host, int(port), section["public_url"].rstrip("/"), section.get("threads", 16))


def parse(data: Any, source: str = "<memory>") -> CellConfig:
    """Validate a loaded YAML document; returns CellConfig, raises ConfigError naming the key."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise ConfigError(f"{source}: key '{_key_of(error)}': expected {_expected(error)}")
    cell = data["cell"]
    parent = cell.get("parent")
    if cell["type"] == "api" and parent:
        raise ConfigError(f"{source}: key 'cell.parent': expected none for the API cell")
    if cell["type"] != "api" and not parent:
        raise ConfigError(f"{source}: key 'cell.parent': expected the parent of a {cell['type']} cell")
    if cell["type"] == "compute" and cell.get("children"):
        raise ConfigError(f"{source}: key 'cell.children': expected none for a compute cell")
    path = tree.join(parent["path"], cell["name"]) if parent else cell["name"]
    children = tuple(
        ChildCell(c["name"], tree.join(path, c["name"]), c["broker_url"])
        for c in cell.get("children", [])
    )
    db = data["database"]
    if not db["url"].startswith(("mysql+pymysql://", "sqlite://")):
        raise ConfigError(
            f"{source}: key 'database.url': expected a mysql+pymysql:// or sqlite:// URL "
            "(other MySQL drivers block every thread of the daemon on each query)"
        )
    auth = data.get("auth", {})
    identity = data.get("identity", {})
    images = data.get("images", {})
    api = data.get("api", {})
    sched = data.get("scheduler", {})
    compute = data.get("compute", {})
    cells_section = data.get("cells", {})
    metering = data.get("metering", {})
    log = data.get("logging", {})
    user = auth.get("service_user")
    state_dir = data.get("state_dir") or os.path.join("/var/lib/cloud", cell["name"])
    return CellConfig(
        source=source,
        name=cell["name"],
        path=path,
        type=cell["type"],
        parent_path=parent["path"] if parent else None,
        parent_broker_url=parent["broker_url"] if parent else None,
        children=children,
        database_url=db["url"],
        broker_url=data["broker"]["url"],
        state_dir=state_dir,
        region=data.get("region", "RegionOne"),
        log_level=log.get("level", "INFO"),
        log_file=log.get("file"),
        db_pool_size=db.get("pool_size", 10),
        db_max_overflow=db.get("max_overflow", 20),
        deadlock_retries=db.get("deadlock_retries", 10),
        identity_url=auth.get("identity_url"),
        trusted_issuers=tuple(
            TrustedIssuer(t["issuer"], t["jwks_url"], tuple(t.get("roles", ())),
                          tuple(t.get("services", ())))
            for t in auth.get("trusted_issuers", [])
        ),
        service_user=ServiceUser(user["name"], user["password_file"], user.get("project", "service"))
        if user
        else None,
        token_ttl=auth.get("token_ttl", 3600),
        jwks_refresh=auth.get("jwks_refresh", 60.0),
        revocation_poll=auth.get("revocation_poll", 5.0),
        policy_file=auth.get("policy_file"),
        identity=_endpoint(identity),
        key_repository=identity.get("key_repository", os.path.join(state_dir, "keys")),
        password_hash_cost=identity.get("password_hash_cost", 14),
        service_accounts_only=identity.get("service_accounts_only", cell["type"] != "api"),
        lockout_failures=identity.get("lockout_failures", 5),
        lockout_duration=identity.get("lockout_duration", 300.0),
        personal_quota_class=identity.get("personal_quota_class", "personal"),
        max_key_count=identity.get("max_key_count", 3),
        images=_endpoint(images),
        image_store_dir=images.get("store_dir", os.path.join(state_dir, "images")),
        image_master_url=images.get("master_url"),
        image_cache_max_bytes=images.get("cache_max_bytes", 50 * 2**30),
        image_quota_images=images.get("default_quota", {}).get("images", 100),
        image_quota_image_bytes=images.get("default_quota", {}).get("image_bytes", 1024 * 2**30),
        image_quota_snapshot_bytes=images.get("default_quota", {}).get("snapshot_bytes", 1024 * 2**30),
        api=_endpoint(api),
        api_max_limit=api.get("max_limit", 1000),
        weigher=sched.get("weigher", "spread"),
        cpu_allocation_ratio=sched.get("cpu_allocation_ratio", 4.0),
        ram_allocation_ratio=sched.get("ram_allocation_ratio", 1.0),
        disk_allocation_ratio=sched.get("disk_allocation_ratio", 1.0),
        scheduler_refresh_interval=sched.get("refresh_interval", 5.0),
        prestage=PrestageSettings(**sched.get("prestage", {})),
        libvirt_uri=compute.get("libvirt_uri", "test:///auto"),
        virt_type=compute.get("virt_type", "kvm"),
        guest_network=compute.get("guest_network", "user"),
        heartbeat_interval=compute.get("heartbeat_interval", 10.0),
        service_down_time=compute.get("service_down_time", 60.0),
        compute_workers=compute.get("workers", 16),
        peer_listen=compute.get("peer_listen", "0.0.0.0:0"),
        peer_address=compute.get("peer_address"),
        simulated_host=SimulatedHost(**compute.get("simulated_host", {})),
        capacity_interval=cells_section.get("capacity_interval", 10.0),
        sync_interval=cells_section.get("sync_interval", 60.0),
        sync_batch=cells_section.get("sync_batch", 200),
        transition_timeout=cells_section.get("transition_timeout", 600.0),
        metering_poll_interval=metering.get("poll_interval", 300.0),
        metering_batch_size=metering.get("batch_size", 500),
        metering_hour_seconds=metering.get("hour_seconds", 3600.0),
        metering_raw_retention=metering.get("raw_retention", 7 * 86400.0),
        metering_rollup_interval=metering.get("rollup_interval", 10.0),
        metering_metadata_refresh=metering.get("metadata_refresh", 60.0),
        metering_gather_interval=metering.get("gather_interval", 60.0),
        metering_gather_batch=metering.get("gather_batch", 1000),
    )


def load(path: str) -> CellConfig:
    """Read and validate one cell's YAML file; raises ConfigError with a one-line reason."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from exc
    return parse(data, path)
