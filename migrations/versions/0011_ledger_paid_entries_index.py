"""ledger_entries: the payout index carries each entry's conversion and amount

`ix_ledger_entries_payout_id` (payout_id) becomes `ix_ledger_entries_payout_id_conversion_id`
(payout_id, conversion_id, amount): the stats' paid commission (the entries of paid payouts,
by conversion) is then read from the index alone, without a visit to each entry's row, and
every lookup the old index served (a payout's entries, the foreign key) it serves still.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:10:00
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_payout_id')
        batch_op.create_index(
            'ix_ledger_entries_payout_id_conversion_id', ['payout_id', 'conversion_id', 'amount'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_payout_id_conversion_id')
        batch_op.create_index('ix_ledger_entries_payout_id', ['payout_id'], unique=False)
