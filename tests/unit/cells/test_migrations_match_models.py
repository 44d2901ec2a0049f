"""Every migration tree, upgraded to head, gives the tables, columns and indexes of its models
(SQLite and MariaDB; alembic does not compare a DATETIME's fractional precision)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cells.db import migrate

# Each tree keeps its own version table, which no model declares.
_VERSION_TABLES = {f"alembic_version_{tree}" for tree in migrate.TREES}


def _differences(db, tree: str) -> list:
    # The trees share a database: another tree's tables are not this tree's business.
    others = {name for other in migrate.TREES if other != tree
              for name in migrate.metadata_of(other).tables} | _VERSION_TABLES
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), migrate.metadata_of(tree))
    return [d for d in diff if not _foreign(d, others)]


def _foreign(difference: object, others: set[str]) -> bool:
    if not isinstance(difference, tuple):
        return False
    if difference[0] == "remove_table":
        return difference[1].name in others
    if difference[0] == "remove_index":
        return difference[1].table.name in others
    return False


@pytest.mark.parametrize("cell_type", ["api", "compute"])
def test_sqlite_schema_matches_models(sqlite_db, cell_type):
    db = sqlite_db(cell_type)
    for tree in migrate.SCHEMAS[cell_type]:
        assert _differences(db, tree) == [], tree


@pytest.mark.parametrize("cell_type", ["api", "compute"])
def test_mariadb_schema_matches_models(mariadb_db, cell_type):
    db = mariadb_db(cell_type)
    for tree in migrate.SCHEMAS[cell_type]:
        assert _differences(db, tree) == [], tree
