"""The domain's field checks: plain functions any face can call, the pydantic types built on
them, and the input models read outside the API, refusing with the API's own messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import affiliates.api.schemas as api_schemas
from affiliates import validation
from affiliates.validation import (
    MAX_ID,
    ConversionCreate,
    Currency,
    PayoutDetailsIn,
    validation_errors,
)

SBERBANK_BIC = "044525225"
SBERBANK_CORRESPONDENT = "30101810400000000225"
SBERBANK_ACCOUNT = "40702810200000012345"  # its control key agrees with the BIC


def refusal(check, value) -> str:
    with pytest.raises(ValueError) as caught:
        check(value)
    return str(caught.value)


def api_message(kind, value) -> str:
    """What the API says of `value` in a field of this type: its first error."""
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    return validation_errors(caught.value)[0]["message"]


def test_a_currency_code_is_upper_cased():
    assert validation.currency("rub") == "RUB"
    assert validation.currency(" eur ") == "EUR"


def test_an_unknown_currency_is_refused_in_the_apis_words():
    assert refusal(validation.currency, "XYZ") == "Not an ISO 4217 currency code."
    assert api_message(Currency, "XYZ") == "Not an ISO 4217 currency code."


def test_money_is_read_from_text_to_two_places():
    assert validation.money("1499.00") == Decimal("1499.00")
    assert validation.money(Decimal("12.5")) == Decimal("12.5")  # a JSON number, a form's value
    assert validation.money(7) == Decimal("7")
    assert str(validation.money("-0.00")) == "0.00"  # no negative zero
    assert str(validation.signed_money("-0.00")) == "0.00"


NOT_MONEY = 'Money is a decimal string such as "1499.00", or a JSON number.'
NOT_ASCII = 'Write money with ASCII digits and a point, such as "1499.00".'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "Out of range: 0 to 1000000000000."),
        (-1, "Out of range: 0 to 1000000000000."),
        ("1.001", "At most two decimal places."),
        (Decimal("1.001"), "At most two decimal places."),
        (Decimal("NaN"), "Money is a finite number."),
        ("NaN", NOT_ASCII),
        ("1_000", NOT_ASCII),
        ("\u0661\u0660\u0660", NOT_ASCII),  # Arabic-Indic digits
        ("1e3", NOT_ASCII),
        (" 10", NOT_ASCII),
        (True, NOT_MONEY),
        (10.5, NOT_MONEY),  # a float is never exact: the API's parser makes no floats
        ([1], NOT_MONEY),
        ("1000000000000.01", "Out of range: 0 to 1000000000000."),
    ],
)
def test_bad_money_is_refused_with_the_apis_message(value, message):
    assert refusal(validation.money, value) == message
    assert api_message(validation.MoneyIn, value) == message


def test_positive_money_refuses_zero_and_signed_money_takes_a_debit():
    assert refusal(validation.positive_money, "0") == "Out of range: above 0, up to 1000000000000."
    assert validation.signed_money("-250.00") == Decimal("-250.00")


def test_a_percentage_goes_up_to_a_hundred():
    assert validation.percent("100") == Decimal("100")
    assert refusal(validation.percent, "100.01") == "Out of range: 0 to 100."


def test_an_id_fits_its_integer_column_and_is_never_a_boolean():
    assert validation.record_id("42") == 42
    assert validation.record_id(MAX_ID) == MAX_ID
    assert refusal(validation.record_id, MAX_ID + 1) == (
        f"Input should be less than or equal to {MAX_ID}"
    )
    assert refusal(validation.record_id, 0) == "Input should be greater than or equal to 1"
    assert refusal(validation.record_id, True) == "Input should be a valid integer"
    assert refusal(validation.record_id, "\u0664\u0662") == "Input should be a valid integer"


def test_a_naive_timestamp_is_utc_and_one_outside_1970_to_9000_is_refused():
    assert validation.timestamp(dt.datetime(2026, 3, 1, 12)) == dt.datetime(
        2026, 3, 1, 12, tzinfo=dt.UTC
    )
    moscow = dt.timezone(dt.timedelta(hours=3))
    assert validation.timestamp(dt.datetime(2026, 3, 1, 15, tzinfo=moscow)).hour == 12
    assert refusal(validation.timestamp, dt.datetime(1969, 12, 31, 23, tzinfo=dt.UTC)) == (
        "Timestamps must fall between the years 1970 and 9000."
    )
    assert refusal(validation.date, dt.date(9000, 1, 1)) == (
        "Dates must fall between the years 1970 and 9000."
    )


def test_a_moment_is_a_whole_day_or_an_instant():
    assert validation.moment("2026-03-01") == dt.date(2026, 3, 1)
    assert validation.moment("2026-03-01T10:00:00Z") == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_a_name_is_stripped_and_may_not_be_empty():
    assert validation.name("  Anna  ") == "Anna"
    assert refusal(validation.name, "   ") == "String should have at least 1 character"
    assert validation.utm_value(" spring ") == "spring"
    assert validation.reference(" PP-123 ") == "PP-123"


def test_promo_code_text_is_letters_digits_hyphens_and_underscores():
    assert validation.promo_code("SPRING-25") == "SPRING-25"
    assert refusal(validation.promo_code, "-SPRING") == (
        "Use letters, digits, '-' and '_' only, starting with a letter or digit."
    )
    assert api_message(validation.PromoCodeText, "no spaces") == (
        "Use letters, digits, '-' and '_' only, starting with a letter or digit."
    )


def test_urls_and_hostnames_are_checked_as_the_api_checks_them():
    assert validation.url("https://shop.example.com/a?b=1") == "https://shop.example.com/a?b=1"
    assert refusal(validation.url, "ftp://shop.example.com/") == (
        "The URL must start with http:// or https://."
    )
    assert validation.hostname("Shop.Example.COM.") == "shop.example.com"
    assert refusal(validation.hostname, "10.0.0.1") == (
        "IP addresses are not allowed; use a domain name."
    )


def test_a_url_within_an_offers_domains_may_be_on_a_subdomain():
    domains = ["example.com", "example.org"]
    assert validation.url_within("https://shop.example.com/x", domains)
    with pytest.raises(ValueError, match="allowed domains: example.com, example.org"):
        validation.url_within("https://example.net/", domains)
    with pytest.raises(ValueError):
        validation.url_within("https://badexample.com/", domains)


def test_an_attribution_priority_names_each_method_once():
    assert validation.priority(["click", "promo_code"]) == ["click", "promo_code"]
    assert refusal(validation.priority, ["click", "click"]) == "Each method may appear once."
    assert refusal(validation.priority, []) == (
        "List should have at least 1 item after validation, not 0"
    )


def test_an_account_is_checked_against_its_banks_bic():
    assert validation.account_for_bic(SBERBANK_ACCOUNT, SBERBANK_BIC) == SBERBANK_ACCOUNT
    typo = SBERBANK_ACCOUNT[:8] + "3" + SBERBANK_ACCOUNT[9:]
    with pytest.raises(ValueError, match="does not agree with the BIC"):
        validation.account_for_bic(typo, SBERBANK_BIC)


def test_a_correspondent_account_is_checked_against_its_banks_bic():
    assert validation.correspondent_for_bic(SBERBANK_CORRESPONDENT, SBERBANK_BIC)
    with pytest.raises(ValueError, match="Not the correspondent account of this BIC's bank"):
        validation.correspondent_for_bic(SBERBANK_CORRESPONDENT, "044525187")


def test_the_payout_number_checks_are_the_banking_ones():
    assert validation.card_number("2200 7000 0000 0009") == "2200700000000009"
    assert validation.phone("8 (912) 345-67-89") == "+79123456789"
    assert validation.bic("044525225") == "044525225"
    assert refusal(validation.inn, "123") == "An INN is 10 or 12 digits, not 3."


def test_payout_details_are_read_by_method_with_plain_field_names():
    details = PayoutDetailsIn.model_validate(
        {"method": "card", "holder_name": "Anna", "card_number": "2200 7000 0000 0009"}
    )
    assert details.root.model_dump() == {
        "method": "card",
        "holder_name": "Anna",
        "card_number": "2200700000000009",
    }
    with pytest.raises(ValidationError) as caught:
        PayoutDetailsIn.model_validate({"method": "bank_transfer", "holder_name": "Anna",
                                        "bank_name": "Sber", "bic": SBERBANK_BIC,
                                        "account_number": "40702810300000012345"})  # fmt: skip
    assert [e["field"] for e in validation_errors(caught.value)] == ["account_number"]
    with pytest.raises(ValidationError) as caught:
        PayoutDetailsIn.model_validate({"method": "cash"})
    assert validation_errors(caught.value) == [
        {"field": "method", "message": "Use one of: bank_transfer, card, sbp."}
    ]


def test_a_conversion_outside_the_api_is_refused_naming_each_field():
    with pytest.raises(ValidationError) as caught:
        ConversionCreate.model_validate(
            {"offer_id": True, "order_id": "A-1", "amount": "-5", "currency": "rub!"}
        )
    assert {e["field"] for e in validation_errors(caught.value)} == {
        "offer_id",
        "amount",
        "currency",
    }
    body = ConversionCreate.model_validate({"offer_id": 1, "order_id": " A-1 ", "amount": "10"})
    assert (body.order_id, body.amount) == ("A-1", Decimal("10"))


def test_validation_errors_fall_back_to_the_prefix_or_the_body():
    class Body(BaseModel):
        amount: validation.MoneyIn

    with pytest.raises(ValidationError) as caught:
        TypeAdapter(validation.MoneyIn).validate_python("-1")
    assert validation_errors(caught.value, prefix="amount")[0]["field"] == "amount"
    assert validation_errors(caught.value)[0]["field"] == "body"
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"amount": "x"})
    assert validation_errors(caught.value) == [{"field": "amount", "message": NOT_ASCII}]


@pytest.mark.parametrize(
    "name",
    ["ConversionCreate", "ItemIn", "PayoutDetailsIn", "BankTransferIn", "CardIn", "SbpIn",
     "Input", "MoneyIn", "Currency", "Id", "MAX_ID", "Moment", "Url", "Priority"],
)  # fmt: skip
def test_the_api_schemas_use_the_domains_definitions_not_copies(name):
    assert getattr(api_schemas, name) is getattr(validation, name)


def test_every_api_schema_name_is_importable_from_the_package():
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(api_schemas.__path__):
        submodule = importlib.import_module(f"affiliates.api.schemas.{module.name}")
        defined = [
            name
            for name, value in vars(submodule).items()
            # pydantic files parametrised generics ("RootModel[...]") here too: not names
            if name.isidentifier()
            and not name.startswith("_")
            and getattr(value, "__module__", None) == submodule.__name__
        ]
        assert defined, module.name
        for name in defined:
            assert getattr(api_schemas, name) is getattr(submodule, name), name
            assert name in api_schemas.__all__, name
