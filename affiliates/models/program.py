"""Offers (what is promoted) and partners (who promotes it)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, String, false
from sqlalchemy.orm import Mapped, mapped_column

from affiliates.attribution import METHODS
from affiliates.database import Base, Percent, utcnow
from affiliates.models.statuses import OfferStatus, PartnerStatus, PixelTrust

DEFAULT_PRIORITY = list(METHODS)


class Offer(Base):
    """A merchant's program: where links lead and the terms of attribution."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("attribution_window_days >= 0", name="window_not_negative"),
        CheckConstraint("hold_days >= 0", name="hold_not_negative"),
        CheckConstraint("pixel IN ('off', 'review', 'on')", name="pixel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    destination_url: Mapped[str] = mapped_column(String(2048))
    allowed_domains: Mapped[list[str]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    attribution_window_days: Mapped[int] = mapped_column(default=30)
    hold_days: Mapped[int] = mapped_column(default=30)
    target_cac: Mapped[Decimal | None]
    max_discount_percent: Mapped[Decimal | None] = mapped_column(Percent())
    min_click_to_conversion_seconds: Mapped[int] = mapped_column(default=10)
    attribution_priority: Mapped[list[str]] = mapped_column(JSON)
    # Flag conversions whose promo code comes with no click from the code's partner.
    require_click_for_code: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How far the pixel (/p/conversion.gif) is trusted: `off` records nothing, `review` holds
    # each pixel conversion for staff or the server's postback, `on` takes it as it comes.
    pixel: Mapped[str] = mapped_column(
        String(8), default=PixelTrust.REVIEW, server_default=PixelTrust.REVIEW
    )
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Partner(Base):
    """A blogger, shop or reseller who brings customers."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    ref_code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PartnerStatus.PENDING)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status == PartnerStatus.ACTIVE
