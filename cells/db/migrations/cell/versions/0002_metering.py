"""metering: raw samples, hourly rollups, enrichment, revision counter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cells.db.types import PRECISE_TIME

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('metering_samples',
    sa.Column('resource_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('timestamp_us', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('volume', sa.Double(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('metadata', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('instance_id', 'name', 'timestamp_us', 'resource_id')
    )
    with op.batch_alter_table('metering_samples', schema=None) as batch_op:
        batch_op.create_index('ix_metering_samples_time', ['timestamp_us'], unique=False)

    op.create_table('metering_rollups',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('hour', PRECISE_TIME, nullable=False),
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
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id', 'hour')
    )
    with op.batch_alter_table('metering_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_metering_rollups_revision', ['revision'], unique=False)

    op.create_table('metering_instances',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('flavor_id', sa.String(length=255), nullable=True),
    sa.Column('flavor_name', sa.String(length=255), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('ram_mb', sa.Integer(), nullable=False),
    sa.Column('disk_gb', sa.Integer(), nullable=False),
    sa.Column('launched_at', PRECISE_TIME, nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id')
    )
    op.create_table('metering_hosts',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('hs06_per_core', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('host')
    )
    revision_table = op.create_table('metering_revision',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one counter row every rollup write updates first.
    op.bulk_insert(revision_table, [{'id': 1, 'value': 0}])


def downgrade() -> None:
    op.drop_table('metering_revision')
    op.drop_table('metering_hosts')
    op.drop_table('metering_instances')
    with op.batch_alter_table('metering_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_metering_rollups_revision')

    op.drop_table('metering_rollups')
    with op.batch_alter_table('metering_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_metering_samples_time')

    op.drop_table('metering_samples')
