"""commission rules and their versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:30:21.146014
"""

from alembic import op
import sqlalchemy as sa
import affiliates.database


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('commission_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value', affiliates.database.Money(precision=18, scale=2), nullable=False),
    sa.Column('tiers', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('new_customers_only', sa.Boolean(), nullable=False),
    sa.Column('min_order_amount', affiliates.database.Money(precision=18, scale=2), nullable=True),
    sa.Column('cap', affiliates.database.Money(precision=18, scale=2), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('starts_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', affiliates.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_commission_rules_value_not_negative')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_commission_rules_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_commission_rules_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_rules'))
    )
    with op.batch_alter_table('commission_rules', schema=None) as batch_op:
        batch_op.create_index('ix_commission_rules_offer_id_active', ['offer_id', 'active'], unique=False)

    op.create_table('commission_rule_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', affiliates.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['commission_rules.id'], name=op.f('fk_commission_rule_versions_rule_id_commission_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_rule_versions')),
    sa.UniqueConstraint('rule_id', 'version', name=op.f('uq_commission_rule_versions_rule_id_version'))
    )
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_version', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_conversions_rule_id_commission_rules'), 'commission_rules', ['rule_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_conversions_rule_id_commission_rules'), type_='foreignkey')
        batch_op.drop_column('rule_version')

    op.drop_table('commission_rule_versions')
    with op.batch_alter_table('commission_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_commission_rules_offer_id_active')

    op.drop_table('commission_rules')
