"""cloud-metering: the collector of a compute cell, or the accounting of the API cell."""

from __future__ import annotations

import argparse
import sys

from cells.config import CellConfig
from cells.exception import ConfigError
from cells.service import Component, run_daemon

DAEMON = "cloud-metering"


def build(conf: CellConfig, args: argparse.Namespace | None = None) -> list[Component]:
    """Return the components for this cell's type; raises ConfigError in a site cell."""
    if conf.type == "compute":
        from metering.collector import service as collector

        return collector.build(conf)
    if conf.type == "api":
        # Imported here: each side of metering loads only in the cell type that runs it.
        from metering.accounting import service as accounting

        return accounting.build(conf)
    raise ConfigError(f"{conf.source}: cloud-metering runs in the API cell (accounting) and in "
                      f"compute cells (collectors), not in a {conf.type} cell")


def main(argv: list[str] | None = None) -> int:
    """Run cloud-metering until SIGTERM or SIGINT; returns the exit status."""
    return run_daemon(DAEMON, build, argv)


if __name__ == "__main__":
    sys.exit(main())
