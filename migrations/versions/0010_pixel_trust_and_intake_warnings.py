"""offers.pixel (how far the pixel is trusted); conversions.warnings and pixel_unverified

`offers.pixel` is `off` (the pixel records nothing), `review` (a pixel conversion waits for
staff or for the server's postback of the same order) or `on` (trusted). Existing offers
become `review`: the pixel's amount is not trusted by default. `conversions.warnings` lists
the optional fields the intake dropped (`[]` for the conversions already recorded);
`conversions.pixel_unverified` is the guard a server's confirmation updates on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('pixel', sa.String(length=8), server_default='review', nullable=False)
        )
        batch_op.create_check_constraint(
            op.f('ck_offers_pixel_known'), "pixel IN ('off', 'review', 'on')"
        )
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('warnings', sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column('pixel_unverified', sa.Boolean(), server_default=sa.false(),
                      nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_column('pixel_unverified')
        batch_op.drop_column('warnings')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_offers_pixel_known'), type_='check')
        batch_op.drop_column('pixel')
