"""Where a partner's money goes: Russian bank details, card numbers and SBP phones.

Plain functions over text, no database: each check returns the normalised value or raises
`ValueError` with a message for people, and `masked` is the one view of payout details
shown outside the bank registry (the API, the audit trail, the CLI).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Each method's fields, in the order people read them; optional ones may be None.
FIELDS: dict[str, tuple[str, ...]] = {
    "bank_transfer": ("holder_name", "bank_name", "bic", "account_number",
                      "correspondent_account", "inn"),
    "card": ("holder_name", "card_number"),
    "sbp": ("holder_name", "bank_name", "phone"),
}  # fmt: skip
METHODS = tuple(FIELDS)
# Every method's fields together, each once, in the same order.
ALL_FIELDS = tuple(dict.fromkeys(name for names in FIELDS.values() for name in names))
# The numbers money is sent to: outside the registry only their last digits are shown.
SECRET_FIELDS = ("account_number", "card_number", "phone")

# Digits may come grouped the way they are printed: "4276 3800 1234 5678", "40702-810-…".
_GROUPED_DIGITS = re.compile(r"[0-9][0-9 \-]*")
_PHONE = re.compile(r"\+?[0-9 ().\-]+")
# Weights of the control key of a Russian account number (Bank of Russia regulation 579-P).
_KEY_WEIGHTS = ((7, 1, 3) * 8)[:23]  # over the 3-digit prefix and the 20-digit account
# BIC endings of the Bank of Russia's own divisions, whose accounts key on "0" + digits 5–6.
_BANK_OF_RUSSIA_UNITS = ("000", "001", "002")


def _digits(text: str, what: str) -> str:
    value = text.strip()
    if not _GROUPED_DIGITS.fullmatch(value):
        raise ValueError(f"{what} is made of digits (spaces or hyphens between them are fine).")
    return value.replace(" ", "").replace("-", "")


def account_number(text: str) -> str:
    """A Russian account number: 20 digits."""
    value = _digits(text, "An account number")
    if len(value) != 20:
        raise ValueError(f"An account number is 20 digits, not {len(value)}.")
    return value


def bic(text: str) -> str:
    """A Russian bank identification code: 9 digits, starting with the country's 04."""
    value = _digits(text, "A BIC")
    if len(value) != 9:
        raise ValueError(f"A BIC is 9 digits, not {len(value)}.")
    if not value.startswith("04"):
        raise ValueError("A Russian BIC starts with 04.")
    return value


def inn(text: str) -> str:
    """A taxpayer number: 10 digits (an organisation) or 12 (a person), check digits included."""
    value = _digits(text, "An INN")
    if len(value) not in (10, 12):
        raise ValueError(f"An INN is 10 or 12 digits, not {len(value)}.")
    if not inn_checks(value):
        raise ValueError("The INN's check digits do not match: is there a typo?")
    return value


def inn_checks(value: str) -> bool:
    """The INN's check digits (the last one, or the last two) are right."""
    digits = [int(c) for c in value]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(digits) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[9]
    return (
        check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[10]
        and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[11]
    )


def _key_holds(prefix: str, account: str) -> bool:
    text = prefix + account
    return sum(w * int(d) for w, d in zip(_KEY_WEIGHTS, text, strict=True)) % 10 == 0


def account_matches_bic(account: str, bank_bic: str) -> bool:
    """A settlement account's control key (its 9th digit) agrees with the bank's BIC."""
    ending = bank_bic[-3:]
    prefix = "0" + bank_bic[4:6] if ending in _BANK_OF_RUSSIA_UNITS else ending
    return _key_holds(prefix, account)


def correspondent_matches_bic(account: str, bank_bic: str) -> bool:
    """A bank's correspondent account agrees with its BIC: it is a 30101… account at the
    Bank of Russia, ends with the BIC's last three digits and keys on the BIC's region."""
    return (
        account.startswith("30101")
        and account.endswith(bank_bic[-3:])
        and _key_holds("0" + bank_bic[4:6], account)
    )


def luhn_holds(number: str) -> bool:
    """The Luhn checksum of a card number holds."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_number(text: str) -> str:
    """A payment card number: 13 to 19 digits passing the Luhn check."""
    value = _digits(text, "A card number")
    if not 13 <= len(value) <= 19:
        raise ValueError(f"A card number is 13 to 19 digits, not {len(value)}.")
    if not luhn_holds(value):
        raise ValueError("The card number fails its check digit (Luhn): is there a typo?")
    return value


def phone(text: str) -> str:
    """A Russian mobile number as +7XXXXXXXXXX; "8 (912) 345-67-89" and "+7 912 …" are read."""
    value = text.strip()
    example = "Expected a Russian mobile number, such as +7 912 345-67-89."
    if not _PHONE.fullmatch(value) or "+" in value[1:]:
        raise ValueError(example)
    digits = re.sub(r"[^0-9]", "", value)
    if value.startswith("+"):
        national = digits[1:] if len(digits) == 11 and digits[0] == "7" else ""
    elif len(digits) == 11 and digits[0] in "78":
        national = digits[1:]
    else:
        national = digits if len(digits) == 10 else ""
    # SBP sends to a mobile number; Russian mobile numbers are +7 9XX.
    if len(national) != 10 or national[0] != "9":
        raise ValueError(example)
    return "+7" + national


def mask(field: str, value: str) -> str:
    """A money-routing number reduced to its last digits."""
    if field == "phone":
        return f"+7 *** ***-{value[-4:-2]}-{value[-2:]}"
    return "**** " + value[-4:]


def masked(method: str, details: Mapping[str, str | None]) -> dict[str, str | None]:
    """Payout details as shown outside the bank registry: `card_number` becomes
    `card_number_masked` (last 4 digits), likewise the account number and the phone."""
    shown: dict[str, str | None] = {"method": method}
    for name in FIELDS[method]:
        value = details.get(name)
        if name in SECRET_FIELDS:
            shown[f"{name}_masked"] = None if value is None else mask(name, value)
        else:
            shown[name] = value
    return shown
