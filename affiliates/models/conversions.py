"""Conversions (sales and leads), their refunds, customers' bindings to partners, and the
audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.database import Base, utcnow
from affiliates.models.statuses import ConversionStatus

CONVERSION_STATUSES = ("pending", "approved", "rejected", "reversed")


class Conversion(Base):
    """One order or lead; (offer, type, order id) is unique, so a repeat is the same row."""

    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("offer_id", "type", "order_id"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("refunded_amount >= 0", name="refund_not_negative"),
        CheckConstraint("refunded_amount <= amount", name="refund_within_amount"),
        Index("ix_conversions_partner_id_occurred_at", "partner_id", "occurred_at"),
        Index("ix_conversions_offer_id_occurred_at", "offer_id", "occurred_at"),
        Index("ix_conversions_status_hold_until", "status", "hold_until"),
        # Partial: most conversions carry no promo code, many no click id, and an index a
        # row is not in costs its INSERT nothing. The first serves the per-customer limit
        # of a code (and the foreign key), the second `click_reused`.
        Index("ix_conversions_promo_code_id_customer_key", "promo_code_id", "customer_key",
              sqlite_where=text("promo_code_id IS NOT NULL"),
              postgresql_where=text("promo_code_id IS NOT NULL")),
        Index("ix_conversions_click_id", "click_id", sqlite_where=text("click_id IS NOT NULL"),
              postgresql_where=text("click_id IS NOT NULL")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    type: Mapped[str] = mapped_column(String(8))
    order_id: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal]
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3))
    # A keyed hash of the customer id or email: binds customers to partners, stores no PII.
    customer_key: Mapped[str | None] = mapped_column(String(64))
    click_id: Mapped[str | None] = mapped_column(String(64))
    promo_code_id: Mapped[int | None] = mapped_column(ForeignKey("promo_codes.id"))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    attribution: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ConversionStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(200))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    explanation: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The optional fields the intake could not use and dropped: [{field, code, message}].
    warnings: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # Set with the `pixel_unverified` flag; the server's confirmation is a guarded UPDATE
    # on it (see conversions.confirm_pixel), so of two racing postbacks one confirms.
    pixel_unverified: Mapped[bool] = mapped_column(default=False, server_default=false())
    commission: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("commission_rules.id"))
    rule_version: Mapped[int | None]
    new_customer: Mapped[bool | None]
    items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="api")
    occurred_at: Mapped[dt.datetime]
    hold_until: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Refund(Base):
    """One refund of a conversion, as applied: what it took, who sent it, and the answer it
    got. `refund_id` is the merchant's own reference; unique per conversion, so a repeat
    of a refund is refused by the database and answered with the original. A refund sent
    without one has a row too (its `refund_id` null), so a conversion's refunds all show."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("conversion_id", "refund_id"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversion_id: Mapped[int] = mapped_column(ForeignKey("conversions.id"))
    refund_id: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal]
    # asked without an amount ("refund the rest"): a repeat without one is the same refund
    full: Mapped[bool]
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the conversion as this refund left it: a repeat answers with exactly this
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)


class CustomerBinding(Base):
    """A customer attributed to a partner for an offer; later sales follow it for 365 days."""

    __tablename__ = "customer_bindings"
    __table_args__ = (UniqueConstraint("offer_id", "customer_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    customer_key: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    conversion_id: Mapped[int] = mapped_column(ForeignKey("conversions.id"))
    attributed_at: Mapped[dt.datetime]


class AuditEntry(Base):
    """An append-only record of a change: who, when, before, after, why."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
