"""click_rollups (clicks by link, UTC hour and the stats' dimensions); clicks.unique_click

`clicks.unique_click` is NULL until the aggregator (`affiliates rollup`) counts the click in
`click_rollups`; it then keeps whether the click was unique. Existing clicks start NULL, so the
first run rolls them all up. A partial index finds the clicks not yet rolled up; another makes
the 24 h look-back of a visitor on a link cheap.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-11 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('click_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dims_key', sa.String(length=64), nullable=False),
    sa.Column('utm_source', sa.String(length=200), nullable=True),
    sa.Column('utm_medium', sa.String(length=200), nullable=True),
    sa.Column('utm_campaign', sa.String(length=200), nullable=True),
    sa.Column('sub_id', sa.String(length=200), nullable=True),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('unique_clicks', sa.Integer(), nullable=False),
    sa.Column('bot_clicks', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_click_rollups_link_id_links')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_click_rollups_offer_id_offers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_click_rollups_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_click_rollups'))
    )
    with op.batch_alter_table('click_rollups', schema=None) as batch_op:
        batch_op.create_index('uq_click_rollups_link_id_hour_dims_key', ['link_id', 'hour', 'dims_key'], unique=True)
        batch_op.create_index('ix_click_rollups_partner_id_hour', ['partner_id', 'hour'], unique=False)
        batch_op.create_index('ix_click_rollups_offer_id_hour', ['offer_id', 'hour'], unique=False)
        batch_op.create_index('ix_click_rollups_hour', ['hour'], unique=False)

    # a nullable column with no default: no rewrite of the table on either database
    op.add_column('clicks', sa.Column('unique_click', sa.Boolean(), nullable=True))
    op.create_index('ix_clicks_link_id_visitor_key_created_at', 'clicks',
                    ['link_id', 'visitor_key', 'created_at'], unique=False)
    op.create_index('ix_clicks_not_rolled_up', 'clicks', ['created_at'], unique=False,
                    sqlite_where=sa.text('unique_click IS NULL'),
                    postgresql_where=sa.text('unique_click IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_clicks_not_rolled_up', table_name='clicks')
    op.drop_index('ix_clicks_link_id_visitor_key_created_at', table_name='clicks')
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.drop_column('unique_click')
    with op.batch_alter_table('click_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_click_rollups_hour')
        batch_op.drop_index('ix_click_rollups_offer_id_hour')
        batch_op.drop_index('ix_click_rollups_partner_id_hour')
        batch_op.drop_index('uq_click_rollups_link_id_hour_dims_key')
    op.drop_table('click_rollups')
