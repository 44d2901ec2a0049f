"""usage gathered from the compute cells

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cells.db.types import PRECISE_TIME

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('usage_hourly',
    sa.Column('cell_path', sa.String(length=255), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('hour', PRECISE_TIME, nullable=False),
    sa.Column('hour_epoch', sa.Double(), nullable=False),
    sa.Column('hour_seconds', sa.Double(), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('flavor_id', sa.String(length=255), nullable=True),
    sa.Column('flavor_name', sa.String(length=255), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('ram_mb', sa.Integer(), nullable=False),
    sa.Column('disk_gb', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('hs06_per_core', sa.Double(), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('vcpu_hours', sa.Double(), nullable=False),
    sa.Column('hs06_hours', sa.Double(), nullable=False),
    sa.Column('ram_gb_hours', sa.Double(), nullable=False),
    sa.Column('disk_gb_hours', sa.Double(), nullable=False),
    sa.Column('net_in_bytes', sa.BigInteger(), nullable=False),
    sa.Column('net_out_bytes', sa.BigInteger(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('cell_path', 'instance_id', 'hour')
    )
    with op.batch_alter_table('usage_hourly', schema=None) as batch_op:
        batch_op.create_index('ix_usage_hourly_hour', ['hour'], unique=False)
        batch_op.create_index('ix_usage_hourly_project_hour', ['project_id', 'hour'], unique=False)

    op.create_table('usage_cursors',
    sa.Column('cell_path', sa.String(length=255), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('cell_path')
    )


def downgrade() -> None:
    op.drop_table('usage_cursors')
    with op.batch_alter_table('usage_hourly', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_hourly_project_hour')
        batch_op.drop_index('ix_usage_hourly_hour')

    op.drop_table('usage_hourly')
