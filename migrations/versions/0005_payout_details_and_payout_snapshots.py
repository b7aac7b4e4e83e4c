"""payout details and payout snapshots

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:08:53.221410
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payout_details',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('holder_name', sa.String(length=200), nullable=False),
    sa.Column('bank_name', sa.String(length=200), nullable=True),
    sa.Column('bic', sa.String(length=9), nullable=True),
    sa.Column('account_number', sa.String(length=20), nullable=True),
    sa.Column('correspondent_account', sa.String(length=20), nullable=True),
    sa.Column('inn', sa.String(length=12), nullable=True),
    sa.Column('card_number', sa.String(length=19), nullable=True),
    sa.Column('phone', sa.String(length=12), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("method <> 'bank_transfer' OR (bank_name IS NOT NULL AND bic IS NOT NULL AND account_number IS NOT NULL AND card_number IS NULL AND phone IS NULL)", name=op.f('ck_payout_details_bank_transfer_fields')),
    sa.CheckConstraint("method <> 'card' OR (card_number IS NOT NULL AND bank_name IS NULL AND bic IS NULL AND account_number IS NULL AND correspondent_account IS NULL AND inn IS NULL AND phone IS NULL)", name=op.f('ck_payout_details_card_fields')),
    sa.CheckConstraint("method <> 'sbp' OR (phone IS NOT NULL AND bank_name IS NOT NULL AND bic IS NULL AND account_number IS NULL AND correspondent_account IS NULL AND inn IS NULL AND card_number IS NULL)", name=op.f('ck_payout_details_sbp_fields')),
    sa.CheckConstraint("method IN ('bank_transfer', 'card', 'sbp')", name=op.f('ck_payout_details_method_known')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_payout_details_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_details')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_payout_details_partner_id'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_payouts_method_known'), "method IN ('bank_transfer', 'card', 'sbp')")


def downgrade() -> None:
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payouts_method_known'), type_='check')
        batch_op.drop_column('details')
        batch_op.drop_column('method')

    op.drop_table('payout_details')
