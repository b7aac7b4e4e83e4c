"""users: a session token per login, known roles, a partner's login bound to its partner

`session_token` is the id a login's sessions carry (Flask-Login's get_id): a new password
gives a new token and so ends every older session. Existing logins get a random token each.
Roles are checked to be admin, analyst or partner, and a partner login (only it) names a
partner.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

import secrets

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))

    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update().where(users.c.id == user_id)
            .values(session_token=secrets.token_urlsafe(32))
        )

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(op.f('uq_users_session_token'), ['session_token'])
        batch_op.create_check_constraint(
            op.f('ck_users_role_known'), "role IN ('admin', 'analyst', 'partner')"
        )
        batch_op.create_check_constraint(
            op.f('ck_users_partner_login_has_partner'),
            "(role = 'partner' AND partner_id IS NOT NULL)"
            " OR (role <> 'partner' AND partner_id IS NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_partner_login_has_partner'), type_='check')
        batch_op.drop_constraint(op.f('ck_users_role_known'), type_='check')
        batch_op.drop_constraint(op.f('uq_users_session_token'), type_='unique')
        batch_op.drop_column('session_token')
