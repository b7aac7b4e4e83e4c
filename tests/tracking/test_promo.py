"""The pure promo-code check: reasons in the contract's order, and a bounded discount."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.promo import CENT, check_code, discount_for

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Terms:
    code: str = "ANNA10"
    offer_id: int = 1
    discount_type: str = "percent"
    discount_value: Decimal = Decimal("10")
    max_uses: int | None = None
    uses: int = 0
    min_order_amount: Decimal | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    active: bool = True


def check(terms: Terms | None = Terms(), **kwargs):  # noqa: B008 - a frozen default
    arguments = {
        "max_discount_percent": None,
        "offer_id": 1,
        "amount": Decimal("1000.00"),
        "now": NOW,
    }
    arguments.update(kwargs)
    return check_code("anna10", terms, **arguments)


def test_a_valid_code_gives_its_discount():
    result = check()
    assert result.valid is True and result.reason is None
    assert result.discount == Decimal("100.00")
    assert (result.code, result.discount_type, result.discount_value) == (
        "ANNA10",
        "percent",
        Decimal("10"),
    )


def test_an_unknown_code_says_unknown_and_keeps_what_was_typed():
    result = check(None)
    assert (result.valid, result.reason, result.code, result.discount) == (
        False,
        "unknown",
        "anna10",
        None,
    )


@pytest.mark.parametrize(
    ("terms", "kwargs", "reason"),
    [
        (Terms(active=False), {}, "inactive"),
        (Terms(), {"partner_status": "suspended"}, "inactive"),
        (Terms(), {"partner_status": "pending"}, "inactive"),
        (Terms(offer_id=2), {}, "other_offer"),
        (Terms(valid_from=NOW + dt.timedelta(seconds=1)), {}, "not_started"),
        (Terms(valid_until=NOW), {}, "expired"),
        (Terms(valid_until=NOW - dt.timedelta(days=1)), {}, "expired"),
        (Terms(max_uses=5, uses=5), {}, "exhausted"),
        (Terms(max_uses=0), {}, "exhausted"),
        (Terms(min_order_amount=Decimal("1000.01")), {}, "min_order"),
    ],
)
def test_an_unusable_code_says_why_and_gives_no_discount(terms, kwargs, reason):
    result = check(terms, **kwargs)
    assert (result.valid, result.reason, result.discount) == (False, reason, None)
    assert result.discount_type == "percent"


@pytest.mark.parametrize(
    "terms",
    [
        Terms(valid_from=NOW),
        Terms(valid_until=NOW + dt.timedelta(microseconds=1)),
        Terms(max_uses=5, uses=4),
        Terms(min_order_amount=Decimal("1000.00")),
    ],
)
def test_limits_are_inclusive_where_the_contract_says_so(terms):
    assert check(terms).valid is True


def test_the_first_failing_condition_is_the_reason():
    everything_wrong = Terms(
        active=False, offer_id=2, valid_until=NOW, max_uses=1, uses=1,
        min_order_amount=Decimal("1e6"),
    )  # fmt: skip
    assert check(everything_wrong).reason == "inactive"
    assert check(replace(everything_wrong, active=True)).reason == "other_offer"
    assert check(replace(everything_wrong, active=True, offer_id=1)).reason == "expired"


def test_without_an_offer_or_amount_the_code_is_checked_alone():
    assert check(Terms(offer_id=2), offer_id=None).valid is True
    result = check(Terms(min_order_amount=Decimal("5000")), amount=None)
    assert result.valid is True and result.discount is None


def test_an_amount_discount_is_capped_by_the_order_and_the_offer():
    terms = Terms(discount_type="amount", discount_value=Decimal("500.00"))
    assert check(terms).discount == Decimal("500.00")
    assert check(terms, amount=Decimal("300.00")).discount == Decimal("300.00")
    assert check(terms, max_discount_percent=Decimal("20")).discount == Decimal("200.00")


def test_a_percent_discount_is_capped_by_the_offers_maximum_and_rounded_half_up():
    assert check(Terms(discount_value=Decimal("30")),
                 max_discount_percent=Decimal("20")).discount == Decimal("200.00")  # fmt: skip
    assert discount_for("percent", Decimal("15"), Decimal("0.10"), None) == Decimal("0.02")
    assert discount_for("percent", Decimal("10"), Decimal("0.05"), None) == Decimal("0.01")
    assert discount_for("percent", Decimal("150"), Decimal("99.99"), None) == Decimal("99.99")


money = st.decimals(min_value=0, max_value=Decimal("1e9"), places=2, allow_nan=False,
                    allow_infinity=False)  # fmt: skip
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False,
                      allow_infinity=False)  # fmt: skip


@given(
    kind=st.sampled_from(["percent", "amount"]),
    value=st.one_of(money, percent),
    amount=money,
    cap=st.one_of(st.none(), percent),
)
def test_a_discount_never_exceeds_the_amount_nor_the_offer_cap_and_is_never_negative(
    kind, value, amount, cap
):
    discount = discount_for(kind, value, amount, cap)
    assert discount >= 0
    assert discount <= amount
    assert discount == discount.quantize(CENT)
    if cap is not None:
        # the cap is money too: rounded to the kopeck like every amount
        assert discount <= (amount * cap / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if kind == "amount" and cap is None:
        assert discount == min(value, amount)


@given(amount=money, value=percent)
def test_a_percent_discount_grows_with_the_order(amount, value):
    more = amount + Decimal("0.01")
    assert discount_for("percent", value, more, None) >= discount_for("percent", value, amount,
                                                                       None)  # fmt: skip
