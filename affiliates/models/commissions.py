"""Commission rules: the current version, and every version ever published."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.database import Base, utcnow

RULE_FIELDS = (
    "offer_id", "partner_id", "type", "kind", "value", "tiers", "category",
    "new_customers_only", "min_order_amount", "cap", "priority", "starts_at", "ends_at",
)  # fmt: skip


class CommissionRule(Base):
    """A rule as it stands now; editing it makes a new version, deleting deactivates it."""

    __tablename__ = "commission_rules"
    __table_args__ = (
        CheckConstraint("value >= 0", name="value_not_negative"),
        Index("ix_commission_rules_offer_id_active", "offer_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    type: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(100))
    new_customers_only: Mapped[bool] = mapped_column(default=False)
    min_order_amount: Mapped[Decimal | None]
    cap: Mapped[Decimal | None]
    priority: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CommissionRuleVersion(Base):
    """An append-only copy of each published version: what a conversion's rule said then."""

    __tablename__ = "commission_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("commission_rules.id"))
    version: Mapped[int]
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
