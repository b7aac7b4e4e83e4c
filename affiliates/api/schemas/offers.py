"""Offers: what partners promote, where its links may lead, how its sales are attributed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from affiliates.api.schemas.common import Input, Money, Output, Patch, Timestamp
from affiliates.validation import (
    Bool,
    Currency,
    Hostname,
    Int,
    Method,
    MoneyIn,
    Name,
    PercentIn,
    Priority,
    Url,
)

Pixel = Literal["off", "review", "on"]
PIXEL = (
    "How far the pixel (/p/conversion.gif) is trusted: `off` records nothing (the GIF is still "
    "served); `review` holds each pixel conversion (flag `pixel_unverified`) for staff or for "
    "the server's postback of the same order, whose amount wins; `on` takes it as it comes."
)


def _default_priority() -> list[Method]:
    return ["promo_code", "click", "utm", "customer"]


class OfferCreate(Input):
    name: Name
    destination_url: Url
    allowed_domains: list[Hostname] | None = Field(None, max_length=50)
    currency: Currency = "RUB"
    attribution_window_days: Int = Field(30, ge=1, le=3650)
    hold_days: Int = Field(30, ge=0, le=3650)
    target_cac: MoneyIn | None = None
    max_discount_percent: PercentIn | None = None
    min_click_to_conversion_seconds: Int = Field(10, ge=0, le=86_400)
    require_click_for_code: Bool = Field(
        False, description="Flag promo-code conversions with no click from the code's partner."
    )
    attribution_priority: Priority = Field(default_factory=lambda: _default_priority())
    pixel: Pixel = Field("review", description=PIXEL)


class OfferUpdate(Patch):
    NULLABLE = frozenset({"target_cac", "max_discount_percent"})

    name: Name | None = None
    destination_url: Url | None = None
    allowed_domains: list[Hostname] | None = Field(None, min_length=1, max_length=50)
    currency: Currency | None = None
    attribution_window_days: Int | None = Field(None, ge=1, le=3650)
    hold_days: Int | None = Field(None, ge=0, le=3650)
    target_cac: MoneyIn | None = None
    max_discount_percent: PercentIn | None = None
    min_click_to_conversion_seconds: Int | None = Field(None, ge=0, le=86_400)
    require_click_for_code: Bool | None = None
    attribution_priority: Priority | None = None
    pixel: Pixel | None = Field(None, description=PIXEL)
    status: Literal["active", "archived"] | None = None


class OfferOut(Output):
    id: int
    name: str
    slug: str
    destination_url: str
    allowed_domains: list[str]
    currency: str
    attribution_window_days: int
    hold_days: int
    target_cac: Money | None
    max_discount_percent: Money | None
    min_click_to_conversion_seconds: int
    require_click_for_code: bool
    attribution_priority: list[str]
    pixel: Pixel = Field(description=PIXEL)
    status: str
    created_at: Timestamp
    updated_at: Timestamp
