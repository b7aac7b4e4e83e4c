"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 18:34:39.512942
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('destination_url', sa.String(length=2048), nullable=False),
    sa.Column('allowed_domains', sa.JSON(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('attribution_window_days', sa.Integer(), nullable=False),
    sa.Column('hold_days', sa.Integer(), nullable=False),
    sa.Column('target_cac', affiliates.database.Money(precision=18, scale=2), nullable=True),
    sa.Column('max_discount_percent', affiliates.database.Percent(precision=5, scale=2), nullable=True),
    sa.Column('min_click_to_conversion_seconds', sa.Integer(), nullable=False),
    sa.Column('attribution_priority', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attribution_window_days >= 0', name=op.f('ck_offers_window_not_negative')),
    sa.CheckConstraint('hold_days >= 0', name=op.f('ck_offers_hold_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('slug', name=op.f('uq_offers_slug'))
    )
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('ref_code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('email', name=op.f('uq_partners_email')),
    sa.UniqueConstraint('ref_code', name=op.f('uq_partners_ref_code'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_api_keys_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_partner_id'), ['partner_id'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('destination_url', sa.String(length=2048), nullable=False),
    sa.Column('utm_source', sa.String(length=200), nullable=True),
    sa.Column('utm_medium', sa.String(length=200), nullable=True),
    sa.Column('utm_campaign', sa.String(length=200), nullable=True),
    sa.Column('utm_content', sa.String(length=200), nullable=True),
    sa.Column('utm_term', sa.String(length=200), nullable=True),
    sa.Column('sub_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('archived_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_links_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_links_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links')),
    sa.UniqueConstraint('code', name=op.f('uq_links_code'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_partner_id'), ['partner_id'], unique=False)

    op.create_table('promo_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('code_key', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('discount_type', sa.String(length=16), nullable=False),
    sa.Column('discount_value', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('max_uses_per_customer', sa.Integer(), nullable=True),
    sa.Column('min_order_amount', affiliates.database.Money(precision=18, scale=2), nullable=True),
    sa.Column('valid_from', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('discount_value >= 0', name=op.f('ck_promo_codes_discount_not_negative')),
    sa.CheckConstraint('max_uses IS NULL OR uses <= max_uses', name=op.f('ck_promo_codes_uses_within_limit')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_promo_codes_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_promo_codes_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promo_codes')),
    sa.UniqueConstraint('code_key', name=op.f('uq_promo_codes_code_key'))
    )
    with op.batch_alter_table('promo_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promo_codes_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promo_codes_partner_id'), ['partner_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_users_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_partner_id'), ['partner_id'], unique=False)

    op.create_table('clicks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('visitor_key', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=512), nullable=False),
    sa.Column('referer', sa.String(length=1024), nullable=False),
    sa.Column('utm_source', sa.String(length=200), nullable=True),
    sa.Column('utm_medium', sa.String(length=200), nullable=True),
    sa.Column('utm_campaign', sa.String(length=200), nullable=True),
    sa.Column('utm_content', sa.String(length=200), nullable=True),
    sa.Column('utm_term', sa.String(length=200), nullable=True),
    sa.Column('sub_id', sa.String(length=200), nullable=True),
    sa.Column('params', sa.Text(), nullable=True),
    sa.Column('is_bot', sa.Boolean(), nullable=False),
    sa.Column('attributable', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_clicks_link_id_links')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_clicks_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_clicks_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clicks'))
    )
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.create_index('ix_clicks_link_id_created_at', ['link_id', 'created_at'], unique=False)
        batch_op.create_index('ix_clicks_offer_id_created_at', ['offer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_clicks_partner_id_created_at', ['partner_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.drop_index('ix_clicks_partner_id_created_at')
        batch_op.drop_index('ix_clicks_offer_id_created_at')
        batch_op.drop_index('ix_clicks_link_id_created_at')

    op.drop_table('clicks')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_partner_id'))

    op.drop_table('users')
    with op.batch_alter_table('promo_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promo_codes_partner_id'))
        batch_op.drop_index(batch_op.f('ix_promo_codes_offer_id'))

    op.drop_table('promo_codes')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_partner_id'))
        batch_op.drop_index(batch_op.f('ix_links_offer_id'))

    op.drop_table('links')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_partner_id'))

    op.drop_table('api_keys')
    op.drop_table('partners')
    op.drop_table('offers')
