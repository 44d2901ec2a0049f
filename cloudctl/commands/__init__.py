"""The CLI's commands, one module per noun; each offers ``register(subparsers, common)``."""

from __future__ import annotations

from cloudctl.commands import (
    app_credential,
    cell,
    flavor,
    group,
    host,
    image,
    project,
    role,
    server,
    token,
    usage,
    user,
)

NOUNS = (server, flavor, image, cell, host, token, project, user, group, role, app_credential, usage)
