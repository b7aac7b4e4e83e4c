"""used_signatures: each signed request's signature is accepted once

A signed request's digest is kept while its timestamp is within the 300 s window (and a
minute more); its primary key refuses a replay. Expired rows are pruned by the claims
themselves (the index on `expires_at`). With REDIS_URL set the table stays empty.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09 10:00:00
"""

from alembic import op
import sqlalchemy as sa

import affiliates.database


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'used_signatures',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('expires_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_used_signatures')),
    )
    with op.batch_alter_table('used_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_signatures_expires_at'), ['expires_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('used_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_signatures_expires_at'))
    op.drop_table('used_signatures')
