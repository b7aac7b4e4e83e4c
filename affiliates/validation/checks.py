"""The rules that are code, as plain functions: each takes a value already of its type
(text, a date, a list) and returns it normalised, or raises `ValueError` with a message for
people. The pydantic types in `affiliates.validation.types` run them; so can anything else."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from babel.numbers import list_currencies

from affiliates import banking
from affiliates.urls import UrlError, check_hostname, check_url, host_allowed

CURRENCIES = frozenset(list_currencies())
# Room for windows and holds of up to ten years either side without leaving datetime's range.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_PROMO_CODE = re.compile(r"[^\W_][\w-]*")


def no_bool(value: Any) -> Any:
    """Anything but a boolean: JSON true is not 1 where a number is expected."""
    if isinstance(value, bool):
        raise ValueError("Expected a number, not a boolean.")
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
    """A bare YYYY-MM-DD is a whole day (a date); anything longer is left to be an instant."""
    if isinstance(value, str) and _DAY.fullmatch(value.strip()):
        return dt.date.fromisoformat(value.strip())
    return value


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
