"""cloud-compute: one agent per hypervisor (or N simulated ones in one process)."""

from __future__ import annotations

import argparse
import socket

from cells.config import CellConfig
from cells.db.engine import DATABASES
from cells.exception import ConfigError
from cells.service import Component, base_parser, run_daemon
from compute_agent.paths import check_name
from compute_agent.virt.libvirt.factory import SIMULATED_URI, is_simulated

DAEMON = "cloud-compute"


def host_names(host: str, simulate: int) -> list[str]:
    """Return the hosts to serve: ``host`` itself, or ``host-001``..``host-N`` when simulating."""
    check_name("host name", host)
    if simulate <= 0:
        return [host]
    return [f"{host}-{i:03d}" for i in range(1, simulate + 1)]


def build(conf: CellConfig, args: argparse.Namespace) -> list[Component]:
    """Return the process's components: one AgentGroup serving every host; raises ConfigError."""
    from compute_agent.agent import AgentGroup

    if conf.type != "compute":
        raise ConfigError(f"{conf.source}: cloud-compute runs in compute cells, not in a {conf.type} cell")
    simulate = getattr(args, "simulate", 0) or 0
    if simulate and not is_simulated(conf.libvirt_uri):
        raise ConfigError(f"--simulate needs compute.libvirt_uri: {SIMULATED_URI} "
                          f"(configured: {conf.libvirt_uri})")
    hosts = host_names(getattr(args, "host", None) or socket.gethostname(), simulate)
    from compute_agent.peer_images import PeerImageServer
    from identity.service_token import ServiceToken

    db = DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                       max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    # Each host may serve one or two peers at once during a pre-staging run.
    peers = PeerImageServer(conf, threads=min(64, 4 + 2 * len(hosts)))
    return [AgentGroup(conf, db, hosts, ServiceToken(conf), peers=peers)]


def parser() -> argparse.ArgumentParser:
    p = base_parser(DAEMON, "The compute agent: runs instances on this hypervisor through libvirt.")
    p.add_argument("--host", default=socket.gethostname(),
                   help="the host name this agent serves (default: this machine's name)")
    p.add_argument("--simulate", type=int, default=0, metavar="N",
                   help="serve N simulated hosts HOST-001..HOST-N in this process "
                        f"(needs libvirt_uri {SIMULATED_URI})")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run cloud-compute until SIGTERM/SIGINT; returns the exit status."""
    return run_daemon(DAEMON, build, argv, parser())
