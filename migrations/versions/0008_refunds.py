"""refunds: one row per refund applied, unique per conversion on the merchant's refund_id

A repeated refund with the same refund_id fails on the unique key and is answered with the
stored answer; refunds sent without a refund_id (null, never equal) keep a row each.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversion_id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.String(length=200), nullable=True),
    sa.Column('amount', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_refunds_amount_not_negative')),
    sa.ForeignKeyConstraint(['conversion_id'], ['conversions.id'], name=op.f('fk_refunds_conversion_id_conversions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('conversion_id', 'refund_id', name=op.f('uq_refunds_conversion_id_refund_id'))
    )


def downgrade() -> None:
    op.drop_table('refunds')
