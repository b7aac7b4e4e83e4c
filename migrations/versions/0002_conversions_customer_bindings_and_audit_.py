"""conversions, customer bindings and audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:52:57.682721
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_entity_entity_id', ['entity', 'entity_id'], unique=False)

    op.create_table('conversions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('order_id', sa.String(length=200), nullable=False),
    sa.Column('amount', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('refunded_amount', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('customer_key', sa.String(length=64), nullable=True),
    sa.Column('click_id', sa.String(length=64), nullable=True),
    sa.Column('promo_code_id', sa.Integer(), nullable=True),
    sa.Column('utm_source', sa.String(length=200), nullable=True),
    sa.Column('utm_campaign', sa.String(length=200), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('attribution', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.JSON(), nullable=False),
    sa.Column('commission', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('new_customer', sa.Boolean(), nullable=True),
    sa.Column('items', sa.JSON(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hold_until', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_conversions_amount_not_negative')),
    sa.CheckConstraint('refunded_amount <= amount', name=op.f('ck_conversions_refund_within_amount')),
    sa.CheckConstraint('refunded_amount >= 0', name=op.f('ck_conversions_refund_not_negative')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_conversions_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_conversions_partner_id_partners')),
    sa.ForeignKeyConstraint(['promo_code_id'], ['promo_codes.id'], name=op.f('fk_conversions_promo_code_id_promo_codes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversions')),
    sa.UniqueConstraint('offer_id', 'type', 'order_id', name=op.f('uq_conversions_offer_id_type_order_id'))
    )
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversions_click_id'), ['click_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversions_customer_key'), ['customer_key'], unique=False)
        batch_op.create_index('ix_conversions_offer_id_occurred_at', ['offer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_conversions_partner_id_occurred_at', ['partner_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversions_promo_code_id'), ['promo_code_id'], unique=False)
        batch_op.create_index('ix_conversions_status_hold_until', ['status', 'hold_until'], unique=False)

    op.create_table('customer_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('customer_key', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('conversion_id', sa.Integer(), nullable=False),
    sa.Column('attributed_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversion_id'], ['conversions.id'], name=op.f('fk_customer_bindings_conversion_id_conversions')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_customer_bindings_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_customer_bindings_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_bindings')),
    sa.UniqueConstraint('offer_id', 'customer_key', name=op.f('uq_customer_bindings_offer_id_customer_key'))
    )
    with op.batch_alter_table('customer_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_bindings_partner_id'), ['partner_id'], unique=False)

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signing_secret', sa.String(length=128), nullable=True))
        batch_op.drop_column('last_used_at')

    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_click_for_code', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('require_click_for_code')

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', affiliates.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_column('signing_secret')

    with op.batch_alter_table('customer_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_bindings_partner_id'))

    op.drop_table('customer_bindings')
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_index('ix_conversions_status_hold_until')
        batch_op.drop_index(batch_op.f('ix_conversions_promo_code_id'))
        batch_op.drop_index('ix_conversions_partner_id_occurred_at')
        batch_op.drop_index('ix_conversions_offer_id_occurred_at')
        batch_op.drop_index(batch_op.f('ix_conversions_customer_key'))
        batch_op.drop_index(batch_op.f('ix_conversions_click_id'))

    op.drop_table('conversions')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_entity_entity_id')

    op.drop_table('audit_entries')
