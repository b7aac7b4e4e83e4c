"""Promo codes, and the check a store makes before it grants a discount."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from affiliates.api.schemas.common import Input, ListQuery, Money, Output, Patch, Timestamp
from affiliates.validation import (
    Bool,
    Id,
    Int,
    MoneyIn,
    PositiveMoneyIn,
    PromoCodeText,
    TimestampIn,
)


class PromoCodeCreate(Input):
    code: PromoCodeText
    partner_id: Id
    offer_id: Id
    discount_type: Literal["percent", "amount"]
    discount_value: PositiveMoneyIn
    max_uses: Int | None = Field(None, ge=1, le=2**31 - 1)
    max_uses_per_customer: Int | None = Field(None, ge=1, le=2**31 - 1)
    min_order_amount: MoneyIn | None = None
    valid_from: TimestampIn | None = None
    valid_until: TimestampIn | None = None

    @field_validator("discount_value")
    @classmethod
    def _percent_at_most_100(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("discount_type") == "percent" and value > 100:
            raise ValueError("A percent discount cannot exceed 100.")
        return value

    @field_validator("valid_until")
    @classmethod
    def _ends_after_start(
        cls, value: dt.datetime | None, info: ValidationInfo
    ) -> dt.datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("valid_until must be after valid_from.")
        return value


class PromoCodeUpdate(Patch):
    NULLABLE = frozenset(
        {"max_uses", "max_uses_per_customer", "min_order_amount", "valid_from", "valid_until"}
    )

    active: Bool | None = None
    max_uses: Int | None = Field(None, ge=1, le=2**31 - 1)
    max_uses_per_customer: Int | None = Field(None, ge=1, le=2**31 - 1)
    min_order_amount: MoneyIn | None = None
    valid_from: TimestampIn | None = None
    valid_until: TimestampIn | None = None


class PromoCodeOut(Output):
    id: int
    code: str
    partner_id: int
    offer_id: int
    discount_type: str
    discount_value: Money
    max_uses: int | None
    uses: int
    max_uses_per_customer: int | None
    min_order_amount: Money | None
    valid_from: Timestamp | None
    valid_until: Timestamp | None
    active: bool
    created_at: Timestamp


class PromoCodeQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None


class PromoCheckQuery(Input):
    model_config = ConfigDict(extra="ignore")
    offer_id: Id | None = None
    amount: MoneyIn | None = None
    customer_id: str | None = Field(None, max_length=200)


class PromoCheckOut(BaseModel):
    code: str
    valid: bool
    reason: (
        Literal[
            "unknown", "inactive", "not_started", "expired", "exhausted", "min_order", "other_offer"
        ]
        | None
    )
    discount_type: str | None
    discount_value: Money | None
    discount: Money | None
