"""ledger and payouts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:26:45.526579
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'paid', 'failed')", name=op.f('ck_payouts_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payouts_amount_positive')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_payouts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index('ix_payouts_partner_id_currency', ['partner_id', 'currency'], unique=False)
        batch_op.create_index(batch_op.f('ix_payouts_status'), ['status'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('conversion_id', sa.Integer(), nullable=True),
    sa.Column('payout_id', sa.Integer(), nullable=True),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('commission', 'reversal', 'adjustment')", name=op.f('ck_ledger_entries_kind_known')),
    sa.ForeignKeyConstraint(['conversion_id'], ['conversions.id'], name=op.f('fk_ledger_entries_conversion_id_conversions')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_ledger_entries_partner_id_partners')),
    sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('fk_ledger_entries_payout_id_payouts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_conversion_id'), ['conversion_id'], unique=False)
        batch_op.create_index('ix_ledger_entries_partner_id_currency', ['partner_id', 'currency'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_payout_id'), ['payout_id'], unique=False)
        batch_op.create_index('uq_ledger_entries_commission_conversion_id', ['conversion_id'], unique=True, sqlite_where=sa.text("kind = 'commission'"), postgresql_where=sa.text("kind = 'commission'"))



def downgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_ledger_entries_commission_conversion_id', sqlite_where=sa.text("kind = 'commission'"), postgresql_where=sa.text("kind = 'commission'"))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_payout_id'))
        batch_op.drop_index('ix_ledger_entries_partner_id_currency')
        batch_op.drop_index(batch_op.f('ix_ledger_entries_conversion_id'))

    op.drop_table('ledger_entries')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payouts_status'))
        batch_op.drop_index('ix_payouts_partner_id_currency')

    op.drop_table('payouts')
