"""The partners' ledger (append-only money movements), the payouts that settle it and the
payout details they are sent to."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.database import Base, utcnow
from affiliates.models.statuses import PayoutStatus

LEDGER_KINDS = ("commission", "reversal", "adjustment")
PAYOUT_STATUSES = ("pending", "paid", "failed")


class PayoutDetails(Base):
    """How a partner wants to be paid: one method and its fields, one row per partner.

    A table of its own rather than columns on `partners`: the numbers money is sent to stay
    out of the row every conversion and page reads, and can be guarded (and one day
    encrypted or granted) apart. The checks below make a row hold exactly its method's
    fields, whatever writes it.
    """

    __tablename__ = "payout_details"
    __table_args__ = (
        CheckConstraint("method IN ('bank_transfer', 'card', 'sbp')", name="method_known"),
        CheckConstraint(
            "method <> 'bank_transfer' OR (bank_name IS NOT NULL AND bic IS NOT NULL"
            " AND account_number IS NOT NULL AND card_number IS NULL AND phone IS NULL)",
            name="bank_transfer_fields",
        ),
        CheckConstraint(
            "method <> 'card' OR (card_number IS NOT NULL AND bank_name IS NULL AND bic IS NULL"
            " AND account_number IS NULL AND correspondent_account IS NULL AND inn IS NULL"
            " AND phone IS NULL)",
            name="card_fields",
        ),
        CheckConstraint(
            "method <> 'sbp' OR (phone IS NOT NULL AND bank_name IS NOT NULL AND bic IS NULL"
            " AND account_number IS NULL AND correspondent_account IS NULL AND inn IS NULL"
            " AND card_number IS NULL)",
            name="sbp_fields",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), unique=True
    )
    method: Mapped[str] = mapped_column(String(16))
    holder_name: Mapped[str] = mapped_column(String(200))
    bank_name: Mapped[str | None] = mapped_column(String(200))
    bic: Mapped[str | None] = mapped_column(String(9))
    account_number: Mapped[str | None] = mapped_column(String(20))
    correspondent_account: Mapped[str | None] = mapped_column(String(20))
    inn: Mapped[str | None] = mapped_column(String(12))
    card_number: Mapped[str | None] = mapped_column(String(19))
    phone: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Payout(Base):
    """One transfer to a partner in one currency: the sum of the ledger entries it claimed."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status_known"),
        CheckConstraint("method IN ('bank_transfer', 'card', 'sbp')", name="method_known"),
        Index("ix_payouts_partner_id_currency", "partner_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(8), default=PayoutStatus.PENDING, index=True)
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[dt.datetime | None]
    # The partner's payout details when the payout was made: a later edit of them does not
    # redirect money already in a bank registry. Null only on payouts older than snapshots.
    method: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None]


class LedgerEntry(Base):
    """A commission, a reversal of one, or a manual adjustment; never changed once written,
    except for the payout that claims it (and a failed payout releasing it)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('commission', 'reversal', 'adjustment')", name="kind_known"),
        # a conversion earns its commission entry once, whatever races to approve it
        Index(
            "uq_ledger_entries_commission_conversion_id",
            "conversion_id",
            unique=True,
            sqlite_where=text("kind = 'commission'"),
            postgresql_where=text("kind = 'commission'"),
        ),
        Index("ix_ledger_entries_partner_id_currency", "partner_id", "currency"),
        # a payout's entries; with their conversion and amount, so the stats' paid
        # commission by conversion is read from the index alone
        Index("ix_ledger_entries_payout_id_conversion_id", "payout_id", "conversion_id", "amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    kind: Mapped[str] = mapped_column(String(16))
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
