"""cloud-api: the Compute v2.1 REST API of a cell."""

from __future__ import annotations

import argparse
import sys

from api.app import create_app
from cells.config import CellConfig
from cells.exception import ConfigError
from cells.service import Component, WsgiServer, run_daemon

DAEMON = "cloud-api"


def build(conf: CellConfig, args: argparse.Namespace | None = None) -> list[Component]:
    """Return the daemon's components: one threaded WSGI server; raises ConfigError if misconfigured."""
    if conf.api is None:
        raise ConfigError(f"{conf.source}: key 'api.listen': expected the address cloud-api listens on")
    return [WsgiServer(DAEMON, create_app(conf), conf.api)]


def main(argv: list[str] | None = None) -> int:
    """Run cloud-api until SIGTERM or SIGINT; returns the exit status."""
    return run_daemon(DAEMON, build, argv)


if __name__ == "__main__":
    sys.exit(main())
