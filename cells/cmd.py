"""cloud-cells: the cells daemon of one cell."""

from __future__ import annotations

import argparse
import os
import socket

from cells import rpc, service
from cells.config import CellConfig
from cells.db.engine import DATABASES
from cells.manager import CellsManager
from cells.rpcapi import TOPIC


def build(conf: CellConfig, args: argparse.Namespace | None = None) -> list[service.Component]:
    """Return the components of a cells daemon: forwarders, the RPC server, periodic tasks."""
    db = DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                       max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    manager = CellsManager(conf, db)
    server_name = f"{socket.gethostname()}-{os.getpid()}-{conf.path}"
    components: list[service.Component] = list(manager.forwarders.values())
    components.append(service.RpcServer(
        f"cells-rpc-{conf.path}", rpc.get_server(conf.broker_url, TOPIC, server_name, [manager])))
    if conf.type == "compute":
        components += [
            service.PeriodicTask("capacity", conf.capacity_interval, manager.report_capacity,
                                 initial_delay=1.0),
            service.PeriodicTask("sync", conf.sync_interval, manager.sync_up),
            service.PeriodicTask("deadlines", 30.0, manager.resolve_deadlines),
        ]
    if conf.is_root:
        components.append(service.PeriodicTask("heal-index", 30.0, manager.heal_index))
    return components


def main(argv: list[str] | None = None) -> int:
    return service.run_daemon("cloud-cells", build, argv)
