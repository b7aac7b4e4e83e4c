"""Field types for input, as pydantic `Annotated` types, and a plain check for each field rule.

A rule that is code (a currency code, a URL, a Luhn digit) is a function in
`affiliates.validation.checks`, and the type runs it. A rule that is a bound (an id's range)
is a pydantic constraint placed on the core type, so the OpenAPI document publishes it as
`minimum`/`maximum`; money's range and places are one `checks.MoneyRule`, which checks a value
and writes its JSON Schema (a pattern for text, bounds for a number). Its plain check
(`money`, `record_id`, …) runs the type. Either way the rule is written once and every face
(API, CLI, CSV import, forms) refuses a value with the same message.

Types are strict: JSON gives each value its type, and text is not read as a number, a boolean
or a time. A query string is read into JSON's types once, by `from_text`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from affiliates.validation import checks

MAX_MONEY = Decimal("1000000000000")
MAX_ID = 2**31 - 1  # ids are INTEGER columns; PostgreSQL refuses a larger parameter
# an id written as text (a cursor, a query parameter): 1 to MAX_ID, nothing else
ID_TEXT = checks.id_pattern(MAX_ID)


# Money: decimal text or a JSON number, bounded by its rule, whose pattern and bounds are
# also what the OpenAPI document publishes.
_ZERO = Decimal(0)
_MONEY = checks.MoneyRule(checks.MONEY, _ZERO, MAX_MONEY, True, "0 to 1000000000000")
_POSITIVE = checks.MoneyRule(checks.POSITIVE_MONEY, _ZERO, MAX_MONEY, False,
                             "above 0, up to 1000000000000")  # fmt: skip
_SIGNED = checks.MoneyRule(checks.SIGNED_MONEY, -MAX_MONEY, MAX_MONEY, True,
                           "-1000000000000 to 1000000000000")  # fmt: skip
_PERCENT = checks.MoneyRule(checks.PERCENT, _ZERO, Decimal(100), True, "0 to 100")
MoneyIn = Annotated[Decimal, BeforeValidator(_MONEY), AfterValidator(checks.plain_zero),
                    WithJsonSchema(_MONEY.json_schema("1499.00"))]  # fmt: skip
PositiveMoneyIn = Annotated[Decimal, BeforeValidator(_POSITIVE),
                            WithJsonSchema(_POSITIVE.json_schema("1499.00"))]  # fmt: skip
SignedMoneyIn = Annotated[Decimal, BeforeValidator(_SIGNED), AfterValidator(checks.plain_zero),
                          WithJsonSchema(_SIGNED.json_schema("-250.00"))]  # fmt: skip
PercentIn = Annotated[Decimal, BeforeValidator(_PERCENT), AfterValidator(checks.plain_zero),
                      WithJsonSchema(_PERCENT.json_schema("15.00"))]  # fmt: skip
# JSON booleans only: "yes", "true" and 1 are refused (query strings: see `from_text`).
Bool = StrictBool
# Timestamps and days are ISO 8601 text: a Unix time (1700000000, 0.5) is not one.
_YEARS = "^(?:19[7-9][0-9]|[2-8][0-9]{3})-"  # 1970 to 8999, as checks.timestamp allows
TimestampIn = Annotated[
    dt.datetime,
    BeforeValidator(checks.iso_timestamp),
    AfterValidator(checks.timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _YEARS,
                    "examples": ["2026-03-10T12:00:00Z"],
                    "description": "ISO 8601, 1970 to 8999; a day alone is its midnight UTC; "
                                   "no offset is UTC."}),
]  # fmt: skip
DateIn = Annotated[
    dt.date,
    BeforeValidator(checks.iso_date),
    AfterValidator(checks.date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _YEARS,
                    "examples": ["2026-03-10"]}),
]  # fmt: skip
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
    WithJsonSchema({"type": "string", "enum": sorted(checks.CURRENCIES), "examples": ["RUB"],
                    "description": "An ISO 4217 code (read case-insensitively)."}),
]  # fmt: skip
UtmValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# JSON integers only: true is not 1, "5" and 5.0 are not 5. Bounds go in the field's own
# `Field(ge=..., le=...)`, which the document publishes as minimum and maximum.
Int = Annotated[int, Strict()]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Cursor = Annotated[
    str,
    BeforeValidator(checks.id_text(ID_TEXT, "Invalid cursor.")),
    WithJsonSchema({"type": "string", "pattern": ID_TEXT,
                    "description": "The `next_cursor` of the page before."}),
]  # fmt: skip
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


_INTEGER_TEXT = re.compile(r"-?[0-9]{1,100}")


@cache
def _json_kinds(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """Each field's JSON types (by its name in the request), as the model's schema says."""
    properties = model.model_json_schema(mode="validation").get("properties", {})
    return {
        name: frozenset(branch.get("type", "") for branch in [prop, *prop.get("anyOf", [])])
        for name, prop in properties.items()
    }


def from_text(model: type[BaseModel], data: Mapping[str, str]) -> dict[str, Any]:
    """Query-string text as the JSON values `model` reads: ASCII digits where it takes an
    integer, exactly `true` or `false` where a boolean. Anything else stays text, for the
    model (strict) to refuse naming the field: "yes", "1", "on", "٣" and "1e3" are not read."""
    kinds = _json_kinds(model)
    values: dict[str, Any] = {}
    for name, text in data.items():
        kind = kinds.get(name, frozenset())
        if "integer" in kind and _INTEGER_TEXT.fullmatch(text):
            values[name] = int(text)
        elif "boolean" in kind and text in checks.BOOLEAN_WORDS:
            values[name] = checks.BOOLEAN_WORDS[text]
        else:
            values[name] = text
    return values


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
    """An id as stored: 1 up to MAX_ID, an int or its ASCII digits; a boolean is not one."""
    number: int = check(Id, int(value) if isinstance(value, str) and value.isascii()
                        and value.isdigit() else value)  # fmt: skip
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
