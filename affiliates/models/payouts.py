"""The partners' ledger (append-only money movements) and the payouts that settle it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.database import Base, utcnow

LEDGER_KINDS = ("commission", "reversal", "adjustment")
PAYOUT_STATUSES = ("pending", "paid", "failed")


class Payout(Base):
    """One transfer to a partner in one currency: the sum of the ledger entries it claimed."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status_known"),
        Index("ix_payouts_partner_id_currency", "partner_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(8), default="pending", index=True)
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[dt.datetime | None]


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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    kind: Mapped[str] = mapped_column(String(16))
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
