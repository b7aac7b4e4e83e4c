"""The pure checks of payout details: Russian account control keys, BIC, INN, Luhn, SBP
phones, and the masked view shown outside the bank registry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliates import banking

# Published requisites of real banks: BIC and correspondent account.
BANKS = [
    ("044525225", "30101810400000000225"),  # Sberbank
    ("044525187", "30101810700000000187"),  # VTB
    ("044525974", "30101810145250000974"),  # T-Bank
    ("044525593", "30101810200000000593"),  # Alfa-Bank
]


def with_key(account: str, bic: str) -> str:
    """`account` with its 9th digit (the control key) set to agree with `bic`."""
    for digit in "0123456789":
        candidate = account[:8] + digit + account[9:]
        if banking.account_matches_bic(candidate, bic):
            return candidate
    raise AssertionError("some digit always fits")


@pytest.mark.parametrize(("bic", "correspondent"), BANKS)
def test_real_banks_correspondent_accounts_agree_with_their_bics(bic, correspondent):
    assert banking.correspondent_matches_bic(correspondent, bic)


@pytest.mark.parametrize(("bic", "correspondent"), BANKS)
def test_another_banks_correspondent_account_does_not_agree(bic, correspondent):
    others = [c for b, c in BANKS if b != bic]
    assert not any(banking.correspondent_matches_bic(other, bic) for other in others)


def test_a_correspondent_account_starts_with_30101():
    assert not banking.correspondent_matches_bic(with_key("40702810000000000225", "044525225"),
                                                 "044525225")  # fmt: skip


def test_a_settlement_account_agrees_with_its_banks_bic():
    assert banking.account_matches_bic("40702810200000012345", "044525225")
    assert not banking.account_matches_bic("40702810300000012345", "044525225")


def documented_key_holds(prefix: str, account: str) -> bool:
    """The control key as the Bank of Russia publishes it: weights 7, 1, 3 over 23 digits."""
    weights = [7, 1, 3] * 8
    return sum(w * int(d) for w, d in zip(weights, prefix + account, strict=False)) % 10 == 0


account_numbers = st.text(alphabet="0123456789", min_size=20, max_size=20)
bics = st.sampled_from([b for b, _ in BANKS])


@given(account=account_numbers, bic=bics)
def test_a_banks_account_keys_on_the_last_three_digits_of_its_bic(account, bic):
    assert banking.account_matches_bic(account, bic) == documented_key_holds(bic[-3:], account)


@given(account=account_numbers, ending=st.sampled_from(["000", "001", "002"]))
def test_an_account_at_the_bank_of_russia_keys_on_0_and_the_bic_region(account, ending):
    bic = "044525" + ending  # a division of the Bank of Russia itself: "0" + digits 5-6
    assert banking.account_matches_bic(account, bic) == documented_key_holds("025", account)


@given(account=account_numbers, bic=bics)
def test_exactly_one_control_digit_fits_any_account_and_bic(account, bic):
    fits = [
        d for d in "0123456789" if banking.account_matches_bic(account[:8] + d + account[9:], bic)
    ]
    assert len(fits) == 1


@given(account=account_numbers, bic=bics, position=st.integers(0, 19), shift=st.integers(1, 9))
def test_a_single_mistyped_digit_breaks_the_control_key(account, bic, position, shift):
    good = with_key(account, bic)
    digit = (int(good[position]) + shift) % 10
    typo = good[:position] + str(digit) + good[position + 1 :]
    assert not banking.account_matches_bic(typo, bic)


# INN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("inn", ["7707083893", "7736207543", "7830002293", "500100732259"])
def test_published_inns_pass_their_check_digits(inn):
    assert banking.inn(inn) == inn


@pytest.mark.parametrize("inn", ["7707083894", "500100732258", "500100732269"])
def test_an_inn_with_a_wrong_check_digit_is_refused(inn):
    with pytest.raises(ValueError, match="check digits"):
        banking.inn(inn)


@pytest.mark.parametrize("inn", ["770708389", "77070838931", "7707o83893", ""])
def test_an_inn_is_10_or_12_digits(inn):
    with pytest.raises(ValueError):
        banking.inn(inn)


# Cards -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "5555555555554444", "2200700000000009", "4222222222222",
     "6011000990139424", "3530111333300000", "6759649826438453", "4111 1111 1111 1111",
     "4111-1111-1111-1111", "  4111111111111111 "],
)  # fmt: skip
def test_valid_card_numbers_are_read_as_digits(number):
    assert banking.card_number(number) == number.strip().replace(" ", "").replace("-", "")


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_one_check_digit_completes_any_card_number(prefix):
    fits = [d for d in "0123456789" if banking.luhn_holds(prefix + d)]
    assert len(fits) == 1
    assert banking.card_number(prefix + fits[0]) == prefix + fits[0]


@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.integers(0, 11),
       st.integers(1, 9))  # fmt: skip
def test_luhn_catches_any_single_mistyped_digit(prefix, position, shift):
    number = next(prefix + d for d in "0123456789" if banking.luhn_holds(prefix + d))
    digit = (int(number[position]) + shift) % 10
    assert not banking.luhn_holds(number[:position] + str(digit) + number[position + 1 :])


@pytest.mark.parametrize(
    "number", ["4111111111111112", "411111111111", "4" * 20, "4111 1111 1111 111x", "", "-"]
)
def test_bad_card_numbers_are_refused(number):
    with pytest.raises(ValueError):
        banking.card_number(number)


# SBP phones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["8 (912) 345-67-89", "+7 (912) 345-67-89", "+79123456789", "79123456789", "89123456789",
     "9123456789", "912 345 67 89", "+7-912-345-67-89", " 8.912.345.67.89 "],
)  # fmt: skip
def test_an_sbp_phone_in_any_usual_form_becomes_plus_seven(text):
    assert banking.phone(text) == "+79123456789"


@pytest.mark.parametrize(
    "text",
    ["+1 912 345 67 89", "+8 912 345 67 89", "8 (495) 123-45-67", "12345", "+7912345678",
     "+791234567890", "phone", "+7 912 345 67 89 ext 2", "++79123456789", "7+9123456789", ""],
)  # fmt: skip
def test_anything_but_a_russian_mobile_number_is_refused(text):
    with pytest.raises(ValueError, match="Russian mobile number"):
        banking.phone(text)


@given(st.text(max_size=40))
def test_a_phone_check_either_normalises_or_refuses_never_crashes(text):
    try:
        result = banking.phone(text)
    except ValueError:
        return
    assert len(result) == 12 and result.startswith("+79") and result[1:].isdigit()
    assert banking.phone(result) == result


# Masking -----------------------------------------------------------------------------------


def test_masked_details_keep_only_the_last_four_digits_of_each_number():
    bank = {"holder_name": "ООО «Ромашка»", "bank_name": "Сбербанк", "bic": "044525225",
            "account_number": "40702810200000012345", "correspondent_account": None,
            "inn": None}  # fmt: skip
    assert banking.masked("bank_transfer", bank) == {
        "method": "bank_transfer", "holder_name": "ООО «Ромашка»", "bank_name": "Сбербанк",
        "bic": "044525225", "account_number_masked": "**** 2345",
        "correspondent_account": None, "inn": None,
    }  # fmt: skip
    card = {"holder_name": "A", "card_number": "4111111111111111"}
    assert banking.masked("card", card) == {"method": "card", "holder_name": "A",
                                            "card_number_masked": "**** 1111"}  # fmt: skip
    sbp = {"holder_name": "B", "bank_name": "T", "phone": "+79123456789"}
    assert banking.masked("sbp", sbp) == {"method": "sbp", "holder_name": "B", "bank_name": "T",
                                          "phone_masked": "+7 *** ***-67-89"}  # fmt: skip
