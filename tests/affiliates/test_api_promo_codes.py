"""Promo codes: unique whatever the case, capped discounts, and the checkout's validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from affiliates.models import PromoCode
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, PromoCodeFactory, partner_key

PROBLEM = "application/problem+json"
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def offer():
    return OfferFactory(max_discount_percent=Decimal("20.00"))


@pytest.fixture
def partner():
    return PartnerFactory()


def create(client, headers, offer, partner, **fields):
    body = {
        "code": "SUMMER10",
        "partner_id": partner.id,
        "offer_id": offer.id,
        "discount_type": "percent",
        "discount_value": "10",
        **fields,
    }
    return client.post("/api/v1/promo-codes", json=body, headers=headers)


def error_fields(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.get_json()["errors"]]


def check(client, headers, code, **query):
    response = client.get(f"/api/v1/promo-codes/{code}", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def code_count(session) -> int:
    return session.scalar(select(func.count()).select_from(PromoCode))


# Creating ----------------------------------------------------------------------------------


def test_a_promo_code_is_created_with_money_as_strings(client, admin_headers, offer, partner):
    response = create(
        client,
        admin_headers,
        offer,
        partner,
        discount_type="amount",
        discount_value="500",
        min_order_amount="1499.00",
        max_uses=100,
        max_uses_per_customer=1,
        valid_from="2030-01-01T00:00:00+03:00",
        valid_until="2030-02-01T00:00:00Z",
    )
    assert response.status_code == 201
    code = response.get_json()
    assert code["code"] == "SUMMER10"
    assert code["partner_id"] == partner.id and code["offer_id"] == offer.id
    assert code["discount_type"] == "amount"
    assert code["discount_value"] == "500.00"
    assert code["min_order_amount"] == "1499.00"
    assert code["max_uses"] == 100 and code["uses"] == 0
    assert code["valid_from"] == "2029-12-31T21:00:00Z"
    assert code["valid_until"] == "2030-02-01T00:00:00Z"
    assert code["active"] is True


@pytest.mark.parametrize("again", ["SUMMER10", "summer10", "Summer10", " SUMMER10 ", "sUmMeR10"])
def test_promo_codes_are_unique_case_insensitively_409(
    client, admin_headers, session, offer, partner, again
):
    assert create(client, admin_headers, offer, partner).status_code == 201
    other_partner = PartnerFactory()
    response = create(client, admin_headers, OfferFactory(), other_partner, code=again)
    assert error_fields(response, 409) == ["code"]
    assert code_count(session) == 1


def test_unicode_codes_are_unique_by_case_folding(client, admin_headers, offer, partner):
    assert create(client, admin_headers, offer, partner, code="СКИДКА").status_code == 201
    assert create(client, admin_headers, offer, partner, code="скидка").status_code == 409
    assert create(client, admin_headers, offer, partner, code="STRASSE").status_code == 201
    assert create(client, admin_headers, offer, partner, code="straße").status_code == 409


def test_a_percent_discount_above_the_offer_max_is_422(
    client, admin_headers, session, offer, partner
):
    response = create(client, admin_headers, offer, partner, discount_value="20.01")
    assert error_fields(response) == ["discount_value"]
    assert code_count(session) == 0


def test_a_percent_discount_equal_to_the_offer_max_is_allowed(
    client, admin_headers, offer, partner
):
    response = create(client, admin_headers, offer, partner, discount_value="20.00")
    assert response.status_code == 201


def test_without_an_offer_max_any_percent_up_to_100_is_allowed(client, admin_headers, partner):
    offer = OfferFactory(max_discount_percent=None)
    assert create(client, admin_headers, offer, partner, discount_value="100").status_code == 201


def test_a_percent_discount_above_100_is_422_naming_discount_value(client, admin_headers, partner):
    offer = OfferFactory(max_discount_percent=None)
    response = create(client, admin_headers, offer, partner, discount_value="100.01")
    assert error_fields(response) == ["discount_value"]


def test_valid_until_must_come_after_valid_from(client, admin_headers, offer, partner):
    response = create(
        client,
        admin_headers,
        offer,
        partner,
        valid_from="2030-01-02T00:00:00Z",
        valid_until="2030-01-01T00:00:00Z",
    )
    assert error_fields(response) == ["valid_until"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "AB"),
        ("code", "-SALE"),
        ("code", "_SALE"),
        ("code", "SALE 10"),
        ("code", "SALE/10"),
        ("code", "SALE%"),
        ("code", "<b>SALE</b>"),
        ("code", "C" * 65),
        ("code", "ß" * 64),
        ("code", ""),
        ("code", 12345),
        ("discount_type", "free"),
        ("discount_type", None),
        ("discount_value", "0"),
        ("discount_value", "-5"),
        ("discount_value", "10.001"),
        ("discount_value", "NaN"),
        ("discount_value", "Infinity"),
        ("discount_value", "1e999999"),
        ("discount_value", True),
        ("discount_value", "ten"),
        ("max_uses", 0),
        ("max_uses", -1),
        ("max_uses", 2**31),
        ("max_uses_per_customer", 0),
        ("min_order_amount", "-0.01"),
        ("min_order_amount", "99.999"),
        ("valid_from", "yesterday"),
        ("valid_from", "2030-13-01T00:00:00Z"),
        ("valid_from", "0001-01-01T00:00:00+01:00"),
        ("valid_until", "9999-12-31T23:59:59-01:00"),
        ("valid_until", 10**20),
        ("partner_id", "me"),
        ("offer_id", 0),
        ("uses", 5),
    ],
)
def test_an_invalid_promo_code_field_is_422_naming_it(
    client, admin_headers, session, offer, partner, field, value
):
    assert error_fields(create(client, admin_headers, offer, partner, **{field: value})) == [field]
    assert code_count(session) == 0


@pytest.mark.parametrize("field", ["partner_id", "offer_id"])
def test_a_promo_code_for_an_unknown_partner_or_offer_is_422(
    client, admin_headers, offer, partner, field
):
    response = create(client, admin_headers, offer, partner, **{field: 999999})
    assert error_fields(response) == [field]


def test_an_amount_discount_is_not_bound_by_the_percent_cap(client, admin_headers, offer, partner):
    response = create(
        client, admin_headers, offer, partner, discount_type="amount", discount_value="5000.00"
    )
    assert response.status_code == 201


# Validating at checkout --------------------------------------------------------------------


def test_a_valid_code_gives_its_discount_on_the_order(client, conversions_headers, offer):
    PromoCodeFactory(code="SUMMER10", offer=offer, discount_value=Decimal("10.00"))
    result = check(client, conversions_headers, "SUMMER10", offer_id=offer.id, amount="1499.00")
    assert result == {
        "code": "SUMMER10",
        "valid": True,
        "reason": None,
        "discount_type": "percent",
        "discount_value": "10.00",
        "discount": "149.90",
    }


def test_a_code_is_found_whatever_the_case(client, conversions_headers, offer):
    PromoCodeFactory(code="Summer10", offer=offer)
    result = check(client, conversions_headers, "sUMMER10", offer_id=offer.id)
    assert result["valid"] is True
    assert result["code"] == "Summer10"


def test_without_an_amount_the_discount_is_not_computed(client, conversions_headers, offer):
    PromoCodeFactory(code="SUMMER10", offer=offer)
    result = check(client, conversions_headers, "SUMMER10")
    assert result["valid"] is True
    assert result["discount"] is None


def test_a_percent_discount_rounds_half_up_to_the_kopeck(client, conversions_headers):
    offer = OfferFactory(max_discount_percent=None)
    PromoCodeFactory(code="ODD15", offer=offer, discount_value=Decimal("15.00"))
    # 15% of 0.10 is 0.015: half-up gives 0.02
    assert check(client, conversions_headers, "ODD15", amount="0.10")["discount"] == "0.02"


def test_the_discount_is_capped_by_the_offers_max_discount_percent(
    client, admin_headers, conversions_headers
):
    offer = OfferFactory(max_discount_percent=None)
    PromoCodeFactory(code="BIG30", offer=offer, discount_value=Decimal("30.00"))
    PromoCodeFactory(
        code="FLAT500", offer=offer, discount_type="amount", discount_value=Decimal("500.00")
    )
    # the cap is lowered after the codes were made
    client.patch(
        f"/api/v1/offers/{offer.id}", json={"max_discount_percent": "20"}, headers=admin_headers
    )
    assert check(client, conversions_headers, "BIG30", amount="1000.00")["discount"] == "200.00"
    assert check(client, conversions_headers, "FLAT500", amount="1000.00")["discount"] == "200.00"
    assert check(client, conversions_headers, "FLAT500", amount="5000.00")["discount"] == "500.00"


def test_the_discount_is_never_more_than_the_order(client, conversions_headers):
    offer = OfferFactory(max_discount_percent=None)
    PromoCodeFactory(
        code="FLAT5000", offer=offer, discount_type="amount", discount_value=Decimal("5000.00")
    )
    PromoCodeFactory(code="ALL100", offer=offer, discount_value=Decimal("100.00"))
    assert check(client, conversions_headers, "FLAT5000", amount="1499.00")["discount"] == "1499.00"
    assert check(client, conversions_headers, "ALL100", amount="1499.00")["discount"] == "1499.00"
    assert check(client, conversions_headers, "FLAT5000", amount="0")["discount"] == "0.00"


@pytest.mark.parametrize(
    ("terms", "query", "reason"),
    [
        ({"active": False}, {}, "inactive"),
        ({"valid_from": NOW + DAY}, {}, "not_started"),
        ({"valid_until": NOW - DAY}, {}, "expired"),
        ({"valid_until": NOW - dt.timedelta(seconds=1)}, {}, "expired"),
        ({"max_uses": 3, "uses": 3}, {}, "exhausted"),
        ({"min_order_amount": Decimal("1000.00")}, {"amount": "999.99"}, "min_order"),
        ({}, {"offer_id": 999999}, "other_offer"),
    ],
)
def test_an_unusable_code_says_why(client, conversions_headers, offer, terms, query, reason):
    PromoCodeFactory(code="SUMMER10", offer=offer, **terms)
    result = check(client, conversions_headers, "SUMMER10", **query)
    assert result["valid"] is False
    assert result["reason"] == reason
    assert result["discount"] is None
    assert result["discount_type"] == "percent"


@pytest.mark.parametrize(
    ("terms", "query"),
    [
        ({"valid_from": NOW - DAY, "valid_until": NOW + DAY}, {}),
        ({"max_uses": 3, "uses": 2}, {}),
        ({"min_order_amount": Decimal("1000.00")}, {"amount": "1000.00"}),
    ],
)
def test_a_code_just_inside_its_terms_is_valid(client, conversions_headers, offer, terms, query):
    PromoCodeFactory(code="SUMMER10", offer=offer, **terms)
    assert check(client, conversions_headers, "SUMMER10", **query)["valid"] is True


def test_an_unknown_code_is_valid_false_with_reason_unknown(client, conversions_headers):
    result = check(client, conversions_headers, "NOSUCHCODE", amount="100.00")
    assert result["valid"] is False
    assert result["reason"] == "unknown"
    assert result["discount"] is None


def test_a_suspended_partners_code_is_inactive(client, conversions_headers, offer):
    PromoCodeFactory(code="SUMMER10", offer=offer, partner=PartnerFactory(status="suspended"))
    assert check(client, conversions_headers, "SUMMER10")["reason"] == "inactive"


def test_a_deactivated_code_becomes_inactive(client, admin_headers, conversions_headers, offer):
    code = PromoCodeFactory(code="SUMMER10", offer=offer)
    response = client.patch(
        f"/api/v1/promo-codes/{code.code}", json={"active": False}, headers=admin_headers
    )
    assert response.status_code == 200
    assert check(client, conversions_headers, "SUMMER10")["reason"] == "inactive"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("amount", "-1"),
        ("amount", "NaN"),
        ("amount", "1.001"),
        ("amount", "abc"),
        ("offer_id", "x"),
    ],
)
def test_a_bad_check_query_is_422_naming_it(client, conversions_headers, name, value):
    response = client.get(
        "/api/v1/promo-codes/SUMMER10", query_string={name: value}, headers=conversions_headers
    )
    assert error_fields(response) == [name]


@pytest.mark.parametrize("code", ["a" * 500, "..", "%20", "💸", "x'; DROP TABLE promo_codes;--"])
def test_a_strange_code_is_simply_unknown(client, conversions_headers, code):
    assert check(client, conversions_headers, code)["reason"] == "unknown"


# Changing ----------------------------------------------------------------------------------


def test_max_uses_cannot_drop_below_the_uses_so_far(client, admin_headers, offer):
    code = PromoCodeFactory(offer=offer, max_uses=10, uses=5)
    response = client.patch(
        f"/api/v1/promo-codes/{code.code}", json={"max_uses": 4}, headers=admin_headers
    )
    assert error_fields(response) == ["max_uses"]
    response = client.patch(
        f"/api/v1/promo-codes/{code.code}", json={"max_uses": 5}, headers=admin_headers
    )
    assert response.status_code == 200


def test_a_patch_cannot_end_a_code_before_it_starts(client, admin_headers, offer):
    code = PromoCodeFactory(offer=offer, valid_from=NOW)
    response = client.patch(
        f"/api/v1/promo-codes/{code.code}",
        json={"valid_until": (NOW - DAY).isoformat()},
        headers=admin_headers,
    )
    assert error_fields(response) == ["valid_until"]


@pytest.mark.parametrize(
    "body",
    [{"active": None}, {"discount_value": "99"}, {"code": "NEW"}, {"partner_id": 1}],
)
def test_an_invalid_promo_code_patch_is_422(client, admin_headers, offer, body):
    code = PromoCodeFactory(offer=offer)
    response = client.patch(f"/api/v1/promo-codes/{code.code}", json=body, headers=admin_headers)
    assert response.status_code == 422


def test_patching_an_unknown_promo_code_is_404(client, admin_headers):
    response = client.patch("/api/v1/promo-codes/999999", json={}, headers=admin_headers)
    assert response.status_code == 404


# Access ------------------------------------------------------------------------------------


def test_partner_key_lists_only_its_own_promo_codes(client, offer, partner):
    mine = PromoCodeFactory(offer=offer, partner=partner)
    other = PartnerFactory()
    PromoCodeFactory(offer=offer, partner=other)
    headers = bearer(partner_key(partner))
    for query in ({}, {"partner_id": other.id}):
        body = client.get("/api/v1/promo-codes", query_string=query, headers=headers).get_json()
        assert [item["id"] for item in body["items"]] == [mine.id]


def test_an_admin_lists_every_promo_code_and_filters_them(client, admin_headers, offer, partner):
    a = PromoCodeFactory(offer=offer, partner=partner)
    b = PromoCodeFactory(offer=offer)
    c = PromoCodeFactory(partner=partner)

    def ids(**query):
        body = client.get(
            "/api/v1/promo-codes", query_string=query, headers=admin_headers
        ).get_json()
        return [item["id"] for item in body["items"]]

    assert ids() == [c.id, b.id, a.id]
    assert ids(partner_id=partner.id) == [c.id, a.id]
    assert ids(offer_id=offer.id) == [b.id, a.id]


def test_a_partner_key_cannot_create_change_or_check_promo_codes(client, offer, partner):
    code = PromoCodeFactory(offer=offer, partner=partner)
    headers = bearer(partner_key(partner))
    assert create(client, headers, offer, partner, code="MINE20").status_code == 403
    response = client.patch(f"/api/v1/promo-codes/{code.code}", json={}, headers=headers)
    assert response.status_code == 403
    assert client.get(f"/api/v1/promo-codes/{code.code}", headers=headers).status_code == 403


def test_a_conversions_key_checks_codes_but_cannot_create_or_list_them(
    client, conversions_headers, offer, partner
):
    assert create(client, conversions_headers, offer, partner).status_code == 403
    assert client.get("/api/v1/promo-codes", headers=conversions_headers).status_code == 403
    assert client.get("/api/v1/promo-codes/ANY", headers=conversions_headers).status_code == 200


def test_an_admin_key_checks_codes_too(client, admin_headers):
    assert check(client, admin_headers, "ANY")["reason"] == "unknown"
