"""cloud-scheduler: the cell scheduler in the API cell, the host scheduler in a compute cell."""

from __future__ import annotations

import argparse
import os
import socket

from cells import rpc
from cells.config import CellConfig
from cells.service import Component, PeriodicTask, RpcServer, run_daemon
from scheduler import rpcapi
from scheduler.manager import SchedulerManager, make_prestager, make_scheduler

DAEMON = "cloud-scheduler"


def server_name(conf: CellConfig) -> str:
    """A name unique to this process, so each scheduler has its own server queue."""
    return f"{socket.gethostname()}-{conf.name}-{os.getpid()}"


def build(conf: CellConfig, args: argparse.Namespace) -> list[Component]:
    """Return the daemon's components: the periodic refresh, then the RPC server.

    Raises ConfigError in a site cell, where no scheduler runs.
    """
    scheduler = make_scheduler(conf)
    endpoint = SchedulerManager(conf, scheduler, make_prestager(conf, scheduler))
    server = rpc.get_server(conf.broker_url, rpcapi.TOPIC, server_name(conf), [endpoint])
    return [
        # First refresh right away; a request arriving before it completes reads for itself.
        PeriodicTask(f"{DAEMON}-refresh", conf.scheduler_refresh_interval, scheduler.refresh,
                     initial_delay=0),
        RpcServer(f"{DAEMON}-rpc", server),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run cloud-scheduler until SIGTERM or SIGINT; returns the exit status."""
    return run_daemon(DAEMON, build, argv)
