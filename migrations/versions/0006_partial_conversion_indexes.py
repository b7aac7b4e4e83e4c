"""partial indexes on conversions: a code's uses per customer, and click ids

Conversions without a promo code or a click id are no longer written to those indexes, and
the per-customer limit of a code reads one composite index instead of two.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_index('ix_conversions_customer_key')
        batch_op.drop_index('ix_conversions_promo_code_id')
        batch_op.drop_index('ix_conversions_click_id')
        batch_op.create_index(
            'ix_conversions_promo_code_id_customer_key', ['promo_code_id', 'customer_key'],
            unique=False, sqlite_where=sa.text('promo_code_id IS NOT NULL'),
            postgresql_where=sa.text('promo_code_id IS NOT NULL'),
        )
        batch_op.create_index(
            'ix_conversions_click_id', ['click_id'], unique=False,
            sqlite_where=sa.text('click_id IS NOT NULL'),
            postgresql_where=sa.text('click_id IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_index('ix_conversions_click_id')
        batch_op.drop_index('ix_conversions_promo_code_id_customer_key')
        batch_op.create_index('ix_conversions_click_id', ['click_id'], unique=False)
        batch_op.create_index('ix_conversions_promo_code_id', ['promo_code_id'], unique=False)
        batch_op.create_index('ix_conversions_customer_key', ['customer_key'], unique=False)
