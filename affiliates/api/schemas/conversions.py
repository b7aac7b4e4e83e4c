"""Conversions: the intake's body (defined in the domain, `affiliates.validation`), what the
API answers, and the review and refund bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from typing_extensions import TypedDict

from affiliates.api.schemas.common import Input, ListQuery, Money, Output, Timestamp
from affiliates.validation import Id, Moment, RefundCreate


class WarningOut(TypedDict):
    """An optional field the intake could not use: dropped, and the sale recorded without it
    (`occurred_at`: the server's time of receipt is used)."""

    field: Annotated[str, Field(examples=["customer_email"])]
    code: Literal["dropped"]
    message: Annotated[str, Field(examples=[
        "value is not a valid email address: The part after the @-sign is a special-use or "
        "reserved name that cannot be used with email. The conversion was recorded without it."
    ])]  # fmt: skip


class ConversionOut(Output):
    id: int
    offer_id: int
    type: str
    order_id: str
    amount: Money
    refunded_amount: Money
    currency: str
    status: str
    partner_id: int | None
    attribution: str | None
    commission: Money
    rule_id: int | None
    rule_version: int | None
    hold_until: Timestamp
    occurred_at: Timestamp
    reason: str | None
    flags: list[str] = Field(
        description="What holds it for review: too_fast, click_reused, code_without_click, "
        "pixel_unverified (a pixel conversion waiting for staff or the server's postback)."
    )
    explanation: list[str]
    warnings: list[WarningOut] = Field(
        description="The optional fields dropped on the way in, each with why; [] when none."
    )
    source: str
    created_at: Timestamp


class ConversionQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None
    status: Literal["pending", "approved", "rejected", "reversed"] | None = None
    from_: Moment | None = Field(None, alias="from")
    to: Moment | None = None


class RefundIn(RefundCreate):
    """A refund: all that remains, or `amount`; with `refund_id`, applied once."""


class RefundOut(Output):
    id: int
    conversion_id: int
    refund_id: str | None
    amount: Money
    full: bool = Field(description="Asked without an amount: what remained.")
    created_at: Timestamp


class RejectIn(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ApproveIn(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
