"""Create or upgrade a cell's database with alembic, one migration tree per schema.

An API cell's database holds the ``api`` schema, a compute or site cell's the
``cell`` schema; identity and images keep their tables in the same database
under trees of their own, so each service's schema evolves on its own.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

_HERE = os.path.join(os.path.dirname(__file__), "migrations")

# tree name -> module holding its declarative Base, and the Base's name.
TREES: dict[str, tuple[str, str]] = {
    "api": ("cells.db.api_models", "ApiBase"),
    "cell": ("cells.db.cell_models", "CellBase"),
    "identity": ("cells.db.identity_models", "IdentityBase"),
    "images": ("cells.db.image_models", "ImageBase"),
}

SCHEMAS: dict[str, tuple[str, ...]] = {
    "api": ("api", "identity", "images"),
    "site": ("cell", "identity", "images"),
    "compute": ("cell", "identity", "images"),
}


def metadata_of(tree: str) -> MetaData:
    module, base = TREES[tree]
    return getattr(importlib.import_module(module), base).metadata


def alembic_config(url: str, tree: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(_HERE, tree))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["tree"] = tree
    return cfg


def trees_present() -> list[str]:
    return [t for t in TREES if os.path.isdir(os.path.join(_HERE, t, "versions"))]


def upgrade(url: str, cell_type: str, revision: str = "head") -> list[str]:
    """Bring every tree of ``cell_type``'s schema to ``revision``; returns the trees upgraded."""
    done = []
    for tree in SCHEMAS[cell_type]:
        if tree not in trees_present():
            continue
        command.upgrade(alembic_config(url, tree), revision)
        done.append(tree)
    return done


def run_env(context: Any, tree: str) -> None:
    """Shared body of every tree's env.py: online migrations with a per-tree version table."""
    from sqlalchemy import engine_from_config, pool

    config = context.config
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}) or
        {"sqlalchemy.url": config.get_main_option("sqlalchemy.url")},
        prefix="sqlalchemy.", poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata_of(tree),
            version_table=f"alembic_version_{tree}",
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
