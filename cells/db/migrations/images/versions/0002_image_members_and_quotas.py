"""image members and quotas

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 17:26:05.291916
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('image_quotas',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('images', sa.Integer(), nullable=True),
    sa.Column('image_bytes', sa.BigInteger(), nullable=True),
    sa.Column('snapshot_bytes', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('image_members',
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id', 'member_id')
    )
    with op.batch_alter_table('image_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_members_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('image_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_members_member_id'))

    op.drop_table('image_members')
    op.drop_table('image_quotas')
