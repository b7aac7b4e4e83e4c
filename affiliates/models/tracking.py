"""Tracked links, the click log and promo codes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.database import Base, utcnow

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class Link(Base):
    """A partner's tracked short link to an offer's destination."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    destination_url: Mapped[str] = mapped_column(String(2048))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    sub_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[dt.datetime | None]

    def to_dict(self, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "url": f"{base_url}/r/{self.code}",
            "destination_url": self.destination_url,
            "partner_id": self.partner_id,
            "offer_id": self.offer_id,
        }
        for field in UTM_FIELDS:
            data[field] = getattr(self, field)
        data["sub_id"] = self.sub_id
        data["archived"] = self.archived_at is not None
        data["created_at"] = self.created_at
        return data


class Click(Base):
    """One visit through a tracked link. Written by tracking.clicklog, never by the ORM."""

    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_link_id_created_at", "link_id", "created_at"),
        Index("ix_clicks_partner_id_created_at", "partner_id", "created_at"),
        Index("ix_clicks_offer_id_created_at", "offer_id", "created_at"),
        # the 24 h look-back that decides a click's uniqueness
        Index("ix_clicks_link_id_visitor_key_created_at", "link_id", "visitor_key", "created_at"),
        # the clicks not yet rolled up (see services/rollups.py): a few seconds' worth
        Index(
            "ix_clicks_not_rolled_up",
            "created_at",
            sqlite_where=text("unique_click IS NULL"),
            postgresql_where=text("unique_click IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    created_at: Mapped[dt.datetime]
    ip_hash: Mapped[str] = mapped_column(String(64))
    visitor_key: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    referer: Mapped[str] = mapped_column(String(1024), default="")
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    sub_id: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[str | None] = mapped_column(Text)
    is_bot: Mapped[bool] = mapped_column(default=False)
    # False when the click must never win attribution (a suspended partner's link).
    attributable: Mapped[bool] = mapped_column(default=True)
    # NULL until the aggregator rolls the click up; then whether it was a unique click,
    # decided once and kept (the click log never writes it).
    unique_click: Mapped[bool | None]


class ClickRollup(Base):
    """Clicks of one link in one UTC hour with one combination of the stats' dimensions.

    A (link, hour) keeps at most `services.rollups.CAP` combinations; the clicks of any
    further one are counted in a row whose dimensions are all `(other)`. `dims_key` is a
    digest of the four values (NULLs included), so that the upsert has a unique key.
    """

    __tablename__ = "click_rollups"
    __table_args__ = (
        Index("uq_click_rollups_link_id_hour_dims_key", "link_id", "hour", "dims_key",
              unique=True),
        Index("ix_click_rollups_partner_id_hour", "partner_id", "hour"),
        Index("ix_click_rollups_offer_id_hour", "offer_id", "hour"),
        Index("ix_click_rollups_hour", "hour"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    hour: Mapped[dt.datetime]
    dims_key: Mapped[str] = mapped_column(String(64))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    sub_id: Mapped[str | None] = mapped_column(String(200))
    clicks: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    bot_clicks: Mapped[int] = mapped_column(default=0)


class PromoCode(Base):
    """A partner's discount code; unique whatever the letter case."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint("discount_value >= 0", name="discount_not_negative"),
        CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    # The case-folded code: the database, not Python, keeps codes unique.
    code_key: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    discount_type: Mapped[str] = mapped_column(String(16))
    discount_value: Mapped[Decimal]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    max_uses_per_customer: Mapped[int | None]
    min_order_amount: Mapped[Decimal | None]
    valid_from: Mapped[dt.datetime | None]
    valid_until: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @staticmethod
    def key_for(code: str) -> str:
        return code.strip().casefold()
