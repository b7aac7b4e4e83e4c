"""The rules that are code, as plain functions: each takes a value already of its type
(text, a date, a list) and returns it normalised, or raises `ValueError` with a message for
people. The pydantic types in `affiliates.validation.types` run them; so can anything else."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import list_currencies

from affiliates import banking
from affiliates.urls import UrlError, check_hostname, check_url, host_allowed

CURRENCIES = frozenset(list_currencies())
# Room for windows and holds of up to ten years either side without leaving datetime's range.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
# ISO 8601 as this API writes it, ASCII digits only: a day, then optionally a time (minutes,
# seconds, a fraction) and an offset; a bare number is not a time ("1700000000", "0.5").
ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
ISO_TIMESTAMP = (
    ISO_DATE
    + r"(?:[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
_ISO_DATE = re.compile(ISO_DATE)
_ISO_TIMESTAMP = re.compile(ISO_TIMESTAMP)
# Money as text: ASCII digits, an optional point and at most two places; no exponent, "_",
# spaces or other scripts' digits. Each bound is in the pattern, so the OpenAPI document
# publishes exactly what is accepted. ("-0.00" is zero, and reads as plain "0.00".)
_UNITS = r"(?:0|[1-9][0-9]{0,11})"  # 0 to 999 999 999 999
_PLACES = r"(?:\.[0-9]{1,2})?"
_TOP = r"1000000000000(?:\.00?)?"  # MAX_MONEY itself
_MINUS_ZERO = r"-0(?:\.00?)?"
MONEY = rf"^(?:{_UNITS}{_PLACES}|{_TOP}|{_MINUS_ZERO})$"
POSITIVE_MONEY = rf"^(?:[1-9][0-9]{{0,11}}{_PLACES}|0\.(?:0[1-9]|[1-9][0-9]?)|{_TOP})$"
SIGNED_MONEY = rf"^-?(?:{_UNITS}{_PLACES}|{_TOP})$"
PERCENT = rf"^(?:(?:[0-9]|[1-9][0-9]){_PLACES}|100(?:\.00?)?|{_MINUS_ZERO})$"
CENT = Decimal("0.01")
# Query-string words for a boolean: exactly these, nothing else ("yes", "1", "on" are refused).
BOOLEAN_WORDS = {"true": True, "false": False}


def id_pattern(top: int) -> str:
    """A regular expression for the decimal numbers 1 to `top`, no sign, no leading zero."""
    digits = str(top)
    branches = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        high = int(digit) - (0 if i == len(digits) - 1 else 1)
        if high < low:
            continue
        rest = len(digits) - i - 1
        span = str(low) if low == high else f"[{low}-{high}]"
        branches.append(digits[:i] + span + (f"[0-9]{{{rest}}}" if rest else ""))
    return "^(?:" + "|".join(branches) + ")$"


_PROMO_CODE = re.compile(r"[^\W_][\w-]*")


def id_text(pattern: str, message: str) -> Any:
    """A check that text is an id in decimal matching `pattern` (see `id_pattern`)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return check


_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class MoneyRule:
    """What one money field takes: text matching `pattern`, or a JSON number (read exactly
    by the API's parser, never through a float) with at most two places within the bounds."""

    pattern: str
    low: Decimal
    high: Decimal
    low_included: bool
    bounds: str  # the range in words

    def __call__(self, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError('Money is a decimal string such as "1499.00", or a JSON number.')
        if isinstance(value, str):
            if not _DECIMAL_TEXT.fullmatch(value):
                raise ValueError('Write money with ASCII digits and a point, such as "1499.00".')
            if re.fullmatch(self.pattern, value):
                return Decimal(value)
            amount = Decimal(value)
        else:
            amount = Decimal(value)
            if not amount.is_finite():
                raise ValueError("Money is a finite number.")
            if amount.adjusted() <= 15 and amount == amount.quantize(CENT) and self._within(amount):
                return amount
        if amount.adjusted() <= 15 and amount != amount.quantize(CENT):
            raise ValueError("At most two decimal places.")
        raise ValueError(f"Out of range: {self.bounds}.")

    def _within(self, amount: Decimal) -> bool:
        above = amount >= self.low if self.low_included else amount > self.low
        return above and amount <= self.high

    def json_schema(self, example: str) -> dict[str, Any]:
        """The field's schema: the text's pattern, or a number within the bounds."""
        low = "minimum" if self.low_included else "exclusiveMinimum"
        return {
            "anyOf": [
                {"type": "string", "pattern": self.pattern},
                {
                    "type": "number",
                    low: int(self.low),
                    "maximum": int(self.high),
                    "multipleOf": 0.01,
                },
            ],
            "examples": [example],
            "description": f"A decimal string (or a JSON number) with at most two places, "
            f"{self.bounds}.",
        }


def iso_timestamp(value: Any) -> Any:
    """ISO 8601 text, a date-time or a day (its midnight, UTC), or a datetime from code; a
    number is not one ("1700000000", 0.5, 0)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_TIMESTAMP.fullmatch(value):
        raise ValueError("Expected an ISO 8601 timestamp, such as 2026-03-10T12:00:00Z.")
    return value


def iso_date(value: Any) -> Any:
    """ISO 8601 date text, YYYY-MM-DD (or a date from code)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("Expected an ISO 8601 date, such as 2026-03-10.")
    return value


def plain_zero(value: Decimal) -> Decimal:
    """The amount, with a negative zero made plain: "-0.00" is "0.00"."""
    return value.copy_abs() if value.is_zero() else value


def utc(value: dt.datetime) -> dt.datetime:
    """The instant in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def timestamp(value: dt.datetime) -> dt.datetime:
    """An instant between 1970 and 9000, in UTC."""
    try:
        value = utc(value)
    except OverflowError:
        raise ValueError("The timestamp is out of range.") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("Timestamps must fall between the years 1970 and 9000.")
    return value


def date(value: dt.date) -> dt.date:
    """A day between 1970 and 9000."""
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("Dates must fall between the years 1970 and 9000.")
    return value


def date_or_instant(value: Any) -> Any:
    """A bare YYYY-MM-DD is a whole day (a date); ISO 8601 date-time text is left to be an
    instant; anything else (a Unix time, a number) is refused here, with one message."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        return dt.date.fromisoformat(value.strip())
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_TIMESTAMP.fullmatch(value)):
        return value
    raise ValueError("Expected a date (YYYY-MM-DD) or an ISO 8601 timestamp.")


def currency(value: str) -> str:
    """An ISO 4217 currency code, upper-cased: "rub" is "RUB"."""
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError("Not an ISO 4217 currency code.")
    return code


def url(value: str) -> str:
    """An absolute http(s) URL with a domain host and no credentials."""
    try:
        return check_url(value.strip())
    except UrlError as exc:
        raise ValueError(str(exc)) from None


def hostname(value: str) -> str:
    """A DNS hostname, lower-case and IDNA-encoded."""
    try:
        return check_hostname(value)
    except UrlError as exc:
        raise ValueError(str(exc)) from None


def url_within(value: str, allowed_domains: Sequence[str]) -> str:
    """A URL whose host is one of the offer's allowed domains or a subdomain of one."""
    if not host_allowed(value, list(allowed_domains)):
        raise ValueError(
            f"The destination must be on the offer's allowed domains: {', '.join(allowed_domains)}."
        )
    return value


def promo_code(value: str) -> str:
    """Promo-code text: letters, digits, '-' and '_', starting with a letter or digit."""
    value = value.strip()
    if not _PROMO_CODE.fullmatch(value):
        raise ValueError("Use letters, digits, '-' and '_' only, starting with a letter or digit.")
    if len(value.casefold()) > 64:  # the stored case-folded key is 64 characters at most
        raise ValueError("The code is too long.")
    return value


def unique_methods(value: list[str]) -> list[str]:
    """An attribution priority names each method once."""
    if len(set(value)) != len(value):
        raise ValueError("Each method may appear once.")
    return value


def account_for_bic(account: str, bic: str) -> str:
    """A settlement account whose control key agrees with its bank's BIC (both checked)."""
    if not banking.account_matches_bic(account, bic):
        raise ValueError("The account number does not agree with the BIC (its control "
                         "key): check both for a typo.")  # fmt: skip
    return account


def correspondent_for_bic(account: str, bic: str) -> str:
    """The correspondent account of the BIC's bank (both checked)."""
    if not banking.correspondent_matches_bic(account, bic):
        raise ValueError("Not the correspondent account of this BIC's bank: that one "
                         "starts with 30101 and ends with the BIC's last three "
                         "digits.")  # fmt: skip
    return account


# The payout-detail numbers, each a plain check already (`affiliates/banking.py`).
account_number = banking.account_number
bic = banking.bic
inn = banking.inn
card_number = banking.card_number
phone = banking.phone
