"""The CLI's commands, one module per noun; each offers ``register(subparsers, common)``."""

from __future__ import annotations

from cloudctl.commands import cell, flavor, host, image, server

NOUNS = (server, flavor, image, cell, host)
