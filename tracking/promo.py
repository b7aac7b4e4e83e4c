"""Promo-code checks: a pure function over the code's terms and the order's facts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from affiliates.money import CENT


class CodeTerms(Protocol):
    code: str
    offer_id: int
    discount_type: str
    discount_value: Decimal
    max_uses: int | None
    uses: int
    min_order_amount: Decimal | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    active: bool


@dataclass(frozen=True)
class PromoCheck:
    """The answer a checkout shows: valid or the reason why not, and the discount."""

    code: str
    valid: bool
    reason: str | None
    discount_type: str | None = None
    discount_value: Decimal | None = None
    discount: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "valid": self.valid,
            "reason": self.reason,
            "discount_type": self.discount_type,
            "discount_value": self.discount_value,
            "discount": self.discount,
        }


def discount_for(
    discount_type: str, value: Decimal, amount: Decimal, max_percent: Decimal | None
) -> Decimal:
    """The discount on an order: never more than the order, nor the offer's cap."""
    if discount_type == "percent":
        discount = amount * value / 100
    else:
        discount = value
    if max_percent is not None:
        discount = min(discount, amount * max_percent / 100)
    return min(discount, amount).quantize(CENT, rounding=ROUND_HALF_UP)


def check_code(
    code: str,
    terms: CodeTerms | None,
    max_discount_percent: Decimal | None,
    offer_id: int | None,
    amount: Decimal | None,
    now: dt.datetime,
    partner_status: str = "active",
) -> PromoCheck:
    """Whether `code` may be used for this order now; reasons follow the contract."""
    if terms is None:
        return PromoCheck(code=code, valid=False, reason="unknown")
    reason = None
    if not terms.active or partner_status != "active":
        reason = "inactive"
    elif offer_id is not None and offer_id != terms.offer_id:
        reason = "other_offer"
    elif terms.valid_from is not None and now < terms.valid_from:
        reason = "not_started"
    elif terms.valid_until is not None and now >= terms.valid_until:
        reason = "expired"
    elif terms.max_uses is not None and terms.uses >= terms.max_uses:
        reason = "exhausted"
    elif (
        amount is not None
        and terms.min_order_amount is not None
        and amount < terms.min_order_amount
    ):
        reason = "min_order"
    if reason is not None:
        return PromoCheck(terms.code, False, reason, terms.discount_type, terms.discount_value)
    discount = None
    if amount is not None:
        discount = discount_for(
            terms.discount_type, terms.discount_value, amount, max_discount_percent
        )
    return PromoCheck(terms.code, True, None, terms.discount_type, terms.discount_value, discount)
