"""image prestages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 20:10:00.000000
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
    op.create_table('image_prestages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('image_id', sa.String(length=64), nullable=False),
    sa.Column('image_name', sa.String(length=255), nullable=True),
    sa.Column('cell_path', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('hosts_total', sa.Integer(), nullable=False),
    sa.Column('hosts_done', sa.Integer(), nullable=False),
    sa.Column('hosts_failed', sa.Integer(), nullable=False),
    sa.Column('hosts_cached', sa.Integer(), nullable=False),
    sa.Column('from_endpoint', sa.Integer(), nullable=False),
    sa.Column('from_peers', sa.Integer(), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('endpoint_copies', sa.Integer(), nullable=True),
    sa.Column('peer_copies', sa.Integer(), nullable=True),
    sa.Column('failures', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', PRECISE_TIME, nullable=True),
    sa.Column('finished_at', PRECISE_TIME, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('image_prestages', schema=None) as batch_op:
        batch_op.create_index('ix_image_prestages_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_image_prestages_status_updated', ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('image_prestages', schema=None) as batch_op:
        batch_op.drop_index('ix_image_prestages_status_updated')
        batch_op.drop_index('ix_image_prestages_created')

    op.drop_table('image_prestages')
