from alembic import context

from cells.db.migrate import run_env

run_env(context, "images")
