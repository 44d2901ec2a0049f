"""cloud-images: the image service of one cell (the master in the API cell, a cache elsewhere)."""

from __future__ import annotations

import argparse

from cells import service
from cells.config import CellConfig
from cells.exception import ConfigError
from images.app import create_app


def build(conf: CellConfig, args: argparse.Namespace | None = None) -> list[service.Component]:
    """Return the components of cloud-images for this cell; raises ConfigError if it has no endpoint."""
    if conf.images is None:
        raise ConfigError(f"{conf.source}: key 'images.listen': expected the image service's endpoint")
    if conf.type != "api" and not conf.image_master_url:
        raise ConfigError(f"{conf.source}: key 'images.master_url': expected the master image "
                          f"service's URL in a {conf.type} cell")
    return [service.WsgiServer("cloud-images", create_app(conf), conf.images)]


def main(argv: list[str] | None = None) -> int:
    """Run cloud-images until SIGTERM or SIGINT; returns the exit status."""
    return service.run_daemon("cloud-images", build, argv)
