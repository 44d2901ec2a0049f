"""The topology `cloudctl up` starts: an API cell and compute cells, as cell configurations.

Pure: builds the YAML documents (as dicts) for each cell from a few choices
(embedded or deployed, ports, hosts per cell). The same documents work for
one process (SQLite, in-process brokers) and for one process per daemon
(MariaDB, RabbitMQ virtual hosts): only URLs differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

IDENTITY_PORT, IMAGES_PORT, API_PORT = 5000, 9292, 8774


@dataclass(frozen=True)
class CellPlan:
    name: str
    path: str
    type: str
    index: int  # 0 for the API cell, 1.. for compute cells: picks the ports

    @property
    def service_user(self) -> str:
        return f"{self.name}-service"


@dataclass
class Topology:
    state_dir: str
    compute_cells: int = 2
    hosts_per_cell: int = 4
    port_offset: int = 0
    deployed: bool = False
    db_url: str = "mysql+pymysql://root@127.0.0.1:3306"
    rabbit_url: str = "rabbit://guest:guest@127.0.0.1:5672"
    prefix: str = "cloud"
    simulated_host: dict[str, Any] = field(default_factory=lambda: {
        "cpus": 32, "memory_mb": 131072, "disk_gb": 2000, "cpu_model": "Broadwell",
        "hs06_per_core": 10.0})
    libvirt_uri: str = "test:///auto"
    virt_type: str = "kvm"
    transition_timeout: float = 600.0
    # With a site, the compute cells hang below one site cell (top!site1!cellN).
    site: bool = False
    # Metering: the agents' poll interval and the rollup bucket length, in seconds (None: the
    # defaults, 300 and 3600). A short bucket also shortens the collectors' and the accounting's
    # periods, so tests and demos see usage within seconds.
    metering_interval: float | None = None
    metering_hour: float | None = None

    @property
    def cells(self) -> list[CellPlan]:
        plans = [CellPlan("top", "top", "api", 0)]
        parent = "top"
        if self.site:
            plans.append(CellPlan("site1", "top!site1", "site", -1))
            parent = "top!site1"
        for i in range(1, self.compute_cells + 1):
            plans.append(CellPlan(f"cell{i}", f"{parent}!cell{i}", "compute", i))
        return plans

    @property
    def simulated(self) -> bool:
        """True when agents drive libvirt's test driver (many hosts per process)."""
        return self.libvirt_uri == "test:///auto"

    @property
    def compute_cell_plans(self) -> list[CellPlan]:
        return [c for c in self.cells if c.type == "compute"]

    def children_of(self, cell: CellPlan) -> list[CellPlan]:
        return [c for c in self.cells if c.path.rpartition("!")[0] == cell.path]

    def parent_of(self, cell: CellPlan) -> CellPlan:
        parent_path = cell.path.rpartition("!")[0]
        return next(c for c in self.cells if c.path == parent_path)

    def port(self, base: int, cell: CellPlan) -> int:
        return base + cell.index + self.port_offset

    def url(self, base: int, cell: CellPlan) -> str:
        return f"http://127.0.0.1:{self.port(base, cell)}"

    def broker_url(self, cell: CellPlan) -> str:
        if self.deployed:
            return f"{self.rabbit_url.rstrip('/')}/{self.vhost(cell)}"
        return f"fake:///{self.prefix}-{cell.name}-{self.port_offset}"

    def vhost(self, cell: CellPlan) -> str:
        return f"{self.prefix}-{cell.name}"

    def database_name(self, cell: CellPlan) -> str:
        return f"{self.prefix}_{cell.name}".replace("-", "_")

    def database_url(self, cell: CellPlan) -> str:
        if self.deployed:
            return f"{self.db_url.rstrip('/')}/{self.database_name(cell)}"
        return f"sqlite:///{os.path.abspath(self.cell_dir(cell))}/cloud.db"

    def cell_dir(self, cell: CellPlan) -> str:
        return os.path.join(self.state_dir, cell.name)

    def secret_file(self, name: str) -> str:
        return os.path.abspath(os.path.join(self.state_dir, "secrets", name))

    def config_file(self, cell: CellPlan) -> str:
        return os.path.abspath(os.path.join(self.state_dir, "etc", f"{cell.name}.yaml"))

    def config(self, cell: CellPlan) -> dict[str, Any]:
        """Return the YAML document of one cell."""
        top = self.cells[0]
        cell_dir = os.path.abspath(self.cell_dir(cell))
        if cell.type == "site":
            return self._site_config(cell, cell_dir)
        doc: dict[str, Any] = {
            "cell": {"name": cell.name, "type": cell.type},
            "database": {"url": self.database_url(cell)},
            "broker": {"url": self.broker_url(cell)},
            "state_dir": cell_dir,
            "region": "RegionOne",
            "logging": {"level": "INFO"},
            "auth": {
                "identity_url": self.url(IDENTITY_PORT, cell),
                "service_user": {"name": cell.service_user,
                                 "password_file": self.secret_file(cell.service_user)},
            },
            "identity": {"listen": f"127.0.0.1:{self.port(IDENTITY_PORT, cell)}",
                         "public_url": self.url(IDENTITY_PORT, cell),
                         "key_repository": os.path.join(cell_dir, "keys")},
            "images": {"listen": f"127.0.0.1:{self.port(IMAGES_PORT, cell)}",
                       "public_url": self.url(IMAGES_PORT, cell),
                       "store_dir": os.path.join(cell_dir, "images")},
            "api": {"listen": f"127.0.0.1:{self.port(API_PORT, cell)}",
                    "public_url": self.url(API_PORT, cell), "threads": 32},
            "cells": {"capacity_interval": 2 if not self.deployed else 5,
                      "transition_timeout": self.transition_timeout},
        }
        if self.metering():
            doc["metering"] = self.metering()
        if self.deployed:
            doc["logging"]["file"] = os.path.abspath(
                os.path.join(self.state_dir, "logs", f"{cell.name}.log"))
            # Enough pooled connections that request bursts reuse them rather than
            # open new ones; MariaDB's max_connections must allow ~20 per process.
            doc["database"]["pool_size"] = 10
            doc["database"]["max_overflow"] = 10
        if cell.type == "api":
            doc["cell"]["children"] = [
                {"name": c.name, "broker_url": self.broker_url(c)} for c in self.children_of(cell)]
            # The master image store serves the compute cells' caches, which
            # authenticate with their own cell's service accounts.
            doc["auth"]["trusted_issuers"] = [
                {"issuer": c.path, "jwks_url": self.url(IDENTITY_PORT, c) + "/v3/OS-JWKS",
                 "roles": ["service"], "services": ["images"]} for c in self.compute_cell_plans]
            doc["identity"]["password_hash_cost"] = 14
        else:
            parent = self.parent_of(cell)
            doc["cell"]["parent"] = {"path": parent.path, "broker_url": self.broker_url(parent)}
            doc["images"]["master_url"] = self.url(IMAGES_PORT, top)
            doc["images"]["cache_max_bytes"] = 20 * 2**30
            doc["scheduler"] = {"weigher": "spread", "cpu_allocation_ratio": 4.0,
                                "ram_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0,
                                "refresh_interval": 5}
            doc["compute"] = {"libvirt_uri": self.libvirt_uri, "virt_type": self.virt_type,
                              "heartbeat_interval": 10, "service_down_time": 60,
                              # Several agent processes per machine: each serves peers on a free port.
                              "peer_listen": "127.0.0.1:0", "peer_address": "127.0.0.1",
                              "simulated_host": self.simulated_host_of(cell)}
        return doc

    def _site_config(self, cell: CellPlan, cell_dir: str) -> dict[str, Any]:
        """A site cell only routes: a database for its capacity table, a broker, no endpoints."""
        parent = self.parent_of(cell)
        doc: dict[str, Any] = {
            "cell": {"name": cell.name, "type": "site",
                     "parent": {"path": parent.path, "broker_url": self.broker_url(parent)},
                     "children": [{"name": c.name, "broker_url": self.broker_url(c)}
                                  for c in self.children_of(cell)]},
            "database": {"url": self.database_url(cell)},
            "broker": {"url": self.broker_url(cell)},
            "state_dir": cell_dir,
            "logging": {"level": "INFO"},
        }
        if self.deployed:
            doc["logging"]["file"] = os.path.abspath(
                os.path.join(self.state_dir, "logs", f"{cell.name}.log"))
        if self.metering():
            doc["metering"] = self.metering()
        return doc

    def simulated_host_of(self, cell: CellPlan) -> dict[str, Any]:
        """The simulated hosts of a compute cell: each cell's cores a quarter faster than the last
        (HS06 10, 12.5, 15, ...), as a site's hardware generations differ."""
        host = dict(self.simulated_host)
        host["hs06_per_core"] = host["hs06_per_core"] * (1 + 0.25 * (cell.index - 1))
        return host

    def metering(self) -> dict[str, Any]:
        """The ``metering`` section every cell gets (empty: the defaults)."""
        section: dict[str, Any] = {}
        if self.metering_interval is not None:
            section["poll_interval"] = self.metering_interval
        if self.metering_hour is not None:
            quick = min(5.0, self.metering_hour / 2)
            section.update(hour_seconds=self.metering_hour, rollup_interval=quick,
                           metadata_refresh=quick, gather_interval=quick)
        return section

    def clouds_yaml(self, admin_password: str, demo_password: str) -> dict[str, Any]:
        """Return clouds.yaml with an admin cloud and a member (demo project) cloud."""
        auth_url = self.url(IDENTITY_PORT, self.cells[0]) + "/v3"

        def cloud(user: str, password: str, project: str) -> dict[str, Any]:
            return {
                "auth": {"auth_url": auth_url, "username": user, "password": password,
                         "project_name": project, "user_domain_name": "Default",
                         "project_domain_name": "Default"},
                "region_name": "RegionOne", "identity_api_version": 3, "interface": "public",
            }

        return {"clouds": {"admin": cloud("admin", admin_password, "admin"),
                           "demo": cloud("demo", demo_password, "demo")}}


DEFAULT_FLAVORS = [
    # flavorid, name, vcpus, memory_mb, root_gb
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
]
