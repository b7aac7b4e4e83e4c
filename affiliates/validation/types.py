"""Field types for input, as pydantic `Annotated` types, and a plain check for each field rule.

A rule that is code (a currency code, a URL, a Luhn digit) is a function in
`affiliates.validation.checks`, and the type runs it. A rule that is a bound (money's range
and places, an id's range) is a pydantic constraint, because the OpenAPI document publishes
it; its plain check (`money`, `record_id`, …) runs the type. Either way the rule is written
once and every face (API, CLI, CSV import, forms) refuses a value with the same message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from affiliates.validation import checks

MAX_MONEY = Decimal("1000000000000")
MAX_ID = 2**31 - 1  # ids are INTEGER columns; PostgreSQL refuses a larger parameter

MoneyIn = Annotated[
    Decimal,
    BeforeValidator(checks.no_bool),
    Field(ge=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False, examples=["1499.00"]),
    AfterValidator(checks.plain_zero),
]
PositiveMoneyIn = Annotated[
    Decimal,
    BeforeValidator(checks.no_bool),
    Field(gt=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False, examples=["1499.00"]),
]
SignedMoneyIn = Annotated[
    Decimal,
    BeforeValidator(checks.no_bool),
    Field(ge=-MAX_MONEY, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False,
          examples=["-250.00"]),
    AfterValidator(checks.plain_zero),
]  # fmt: skip
PercentIn = Annotated[
    Decimal,
    BeforeValidator(checks.no_bool),
    Field(ge=0, le=100, decimal_places=2, allow_inf_nan=False, examples=["15.00"]),
    AfterValidator(checks.plain_zero),
]
TimestampIn = Annotated[dt.datetime, AfterValidator(checks.timestamp)]
DateIn = Annotated[dt.date, AfterValidator(checks.date)]
# Period bounds: `from=2026-03-01&to=2026-03-31` covers both days whole.
Moment = Annotated[TimestampIn | DateIn, BeforeValidator(checks.date_or_instant)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(checks.url)
]
Hostname = Annotated[str, StringConstraints(max_length=253), AfterValidator(checks.hostname)]
Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=3),
    AfterValidator(checks.currency),
]
UtmValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# JSON true is not 1: booleans are refused where an integer is expected.
Int = Annotated[int, BeforeValidator(checks.no_bool)]
Id = Annotated[int, BeforeValidator(checks.no_bool), Field(ge=1, le=MAX_ID)]
Method = Literal["promo_code", "click", "utm", "customer"]
PromoCodeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=64),
    AfterValidator(checks.promo_code),
]
Priority = Annotated[
    list[Method], Field(min_length=1, max_length=4), AfterValidator(checks.unique_methods)
]
Memo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# Payout-detail numbers are read as printed ("4276 3800 1234 5678"); the checks normalise
# them to digits.
_NUMBER = StringConstraints(max_length=64)
AccountNumber = Annotated[str, _NUMBER, AfterValidator(checks.account_number)]
Bic = Annotated[str, _NUMBER, AfterValidator(checks.bic)]
Inn = Annotated[str, _NUMBER, AfterValidator(checks.inn)]
CardNumber = Annotated[str, _NUMBER, AfterValidator(checks.card_number)]
Phone = Annotated[str, _NUMBER, AfterValidator(checks.phone)]


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    # built on first use, so importing the checks costs nothing
    return TypeAdapter(kind)


def check(kind: Any, value: Any) -> Any:
    """`value` read as the field type `kind` reads it (text too), or `ValueError` with the
    message the API would give."""
    try:
        return _adapter(kind).validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def money(value: Any) -> Decimal:
    """An amount of money: 0 up to MAX_MONEY, at most two places ("1499.00")."""
    amount: Decimal = check(MoneyIn, value)
    return amount


def positive_money(value: Any) -> Decimal:
    """An amount of money above zero, up to MAX_MONEY, at most two places."""
    amount: Decimal = check(PositiveMoneyIn, value)
    return amount


def signed_money(value: Any) -> Decimal:
    """An amount that may be negative (an adjustment), within ±MAX_MONEY, two places."""
    amount: Decimal = check(SignedMoneyIn, value)
    return amount


def percent(value: Any) -> Decimal:
    """A percentage from 0 to 100, at most two places."""
    share: Decimal = check(PercentIn, value)
    return share


def record_id(value: Any) -> int:
    """An id as stored: 1 up to MAX_ID; a boolean is not one."""
    number: int = check(Id, value)
    return number


def moment(value: Any) -> dt.datetime | dt.date:
    """A date (that whole day) or an instant (ISO 8601), as `from`/`to` read them."""
    bound: dt.datetime | dt.date = check(Moment, value)
    return bound


def name(value: Any) -> str:
    """A name: 1 to 200 characters, surrounding spaces dropped."""
    text: str = check(Name, value)
    return text


def reference(value: Any) -> str:
    """A reference or short reason: 1 to 200 characters, surrounding spaces dropped."""
    text: str = check(Reference, value)
    return text


def utm_value(value: Any) -> str:
    """A UTM parameter's value (or a sub id): 1 to 200 characters."""
    text: str = check(UtmValue, value)
    return text


def priority(value: Any) -> list[str]:
    """An attribution priority: each method at most once, one to four of them."""
    methods: list[str] = check(Priority, value)
    return methods
