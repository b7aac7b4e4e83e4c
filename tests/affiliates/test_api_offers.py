"""Offers (admin): create with the contract's defaults, validate every term, change safely."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, partner_key

PROBLEM = "application/problem+json"
SHOP = "https://shop.example.com/catalog"


def create(client, headers, **fields):
    body = {"name": "Shop", "destination_url": SHOP, **fields}
    return client.post("/api/v1/offers", json=body, headers=headers)


def error_fields(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.get_json()["errors"]]


# Creating ----------------------------------------------------------------------------------


def test_an_offer_is_created_with_the_contract_defaults(client, admin_headers):
    response = create(client, admin_headers, name="Summer Shop")
    assert response.status_code == 201
    offer = response.get_json()
    assert isinstance(offer["id"], int)
    assert offer["name"] == "Summer Shop"
    assert offer["slug"] == "summer-shop"
    assert offer["destination_url"] == SHOP
    assert offer["allowed_domains"] == ["shop.example.com"]
    assert offer["currency"] == "RUB"
    assert offer["attribution_window_days"] == 30
    assert offer["hold_days"] == 30
    assert offer["target_cac"] is None
    assert offer["max_discount_percent"] is None
    assert offer["min_click_to_conversion_seconds"] == 10
    assert offer["attribution_priority"] == ["promo_code", "click", "utm", "customer"]
    assert offer["status"] == "active"


@pytest.mark.parametrize(
    ("destination", "host"),
    [
        ("https://shop.example.com/", "shop.example.com"),
        ("https://Shop.Example.COM:8443/a/b?c=d#e", "shop.example.com"),
        ("http://shop.example.com.", "shop.example.com"),
        ("https://магазин.рф/каталог", "магазин.рф".encode("idna").decode()),
    ],
)
def test_allowed_domains_default_to_the_destination_host(client, admin_headers, destination, host):
    response = create(client, admin_headers, destination_url=destination)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["allowed_domains"] == [host]


def test_explicit_allowed_domains_are_lower_cased_deduplicated_and_sorted(client, admin_headers):
    response = create(
        client,
        admin_headers,
        allowed_domains=["Shop.Example.com", "example.com", "shop.example.com."],
    )
    assert response.status_code == 201
    assert response.get_json()["allowed_domains"] == ["example.com", "shop.example.com"]


def test_an_empty_allowed_domains_list_falls_back_to_the_destination_host(client, admin_headers):
    response = create(client, admin_headers, allowed_domains=[])
    assert response.status_code == 201
    assert response.get_json()["allowed_domains"] == ["shop.example.com"]


def test_the_destination_may_be_a_subdomain_of_an_allowed_domain(client, admin_headers):
    response = create(client, admin_headers, allowed_domains=["example.com"])
    assert response.status_code == 201


def test_an_offer_destination_outside_its_allowed_domains_is_422(client, admin_headers):
    response = create(client, admin_headers, allowed_domains=["other.example.org"])
    assert error_fields(response) == ["destination_url"]


@pytest.mark.parametrize(
    "destination",
    [
        "https://shop.example.com.evil.com/x",
        "https://evilshop.example.com/",
        "https://example.com/",
        "https://shop.example.co/",
        "https://shop.example.com%2eevil.com/",
        "https://shop.example.com\u3002evil.com/",
    ],
)
def test_an_offer_cannot_lead_to_a_lookalike_of_its_allowed_domain(
    client, admin_headers, destination
):
    response = create(
        client, admin_headers, destination_url=destination, allowed_domains=["shop.example.com"]
    )
    assert error_fields(response) == ["destination_url"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)//https://shop.example.com",
        "data:text/html,<script>alert(1)</script>",
        "ftp://shop.example.com/",
        "//shop.example.com/",
        "shop.example.com",
        "https://",
        "https:///path",
        "https://shop.example.com@evil.com/",
        "https://user:pass@shop.example.com/",
        "https://evil.com\\@shop.example.com",
        "https://evil.com\\.shop.example.com",
        "https://shop.example.com\n.evil.com",
        "https://shop.example.com\t/",
        "https://shop .example.com/",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://localhost/",
        "https://shop.example.com:0/",
        "https://shop.example.com:99999/",
        "https://-shop.example.com/",
        "https://shop..example.com/",
        "https://" + "a" * 64 + ".example.com/",
        "https://shop.example.com/" + "a" * 2048,
        "",
        "   ",
    ],
)
def test_a_hostile_or_malformed_destination_url_is_422_naming_it(client, admin_headers, url):
    assert error_fields(create(client, admin_headers, destination_url=url)) == ["destination_url"]


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "localhost",
        "127.0.0.1",
        "evil.com/path",
        "a b.com",
        "*.example.com",
        "-a.com",
        "a" * 300,
    ],
)
def test_an_invalid_allowed_domain_is_422_naming_its_position(client, admin_headers, domain):
    response = create(client, admin_headers, allowed_domains=["shop.example.com", domain])
    assert error_fields(response) == ["allowed_domains.1"]


def test_money_terms_come_back_as_two_place_decimal_strings(client, admin_headers):
    response = create(client, admin_headers, target_cac="1499", max_discount_percent=15.5)
    assert response.status_code == 201
    offer = response.get_json()
    assert offer["target_cac"] == "1499.00"
    assert offer["max_discount_percent"] == "15.50"


def test_money_is_exact_not_a_float(client, admin_headers):
    response = create(client, admin_headers, target_cac="0.10")
    assert response.get_json()["target_cac"] == "0.10"
    response = create(client, admin_headers, name="Other", target_cac=999999999999.99)
    assert response.get_json()["target_cac"] == "999999999999.99"


def test_negative_zero_money_is_plain_zero(client, admin_headers):
    response = create(client, admin_headers, target_cac="-0.00")
    assert response.status_code == 201
    assert response.get_json()["target_cac"] == "0.00"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_cac", "1499.001"),
        ("target_cac", "-0.01"),
        ("target_cac", -1),
        ("target_cac", "abc"),
        ("target_cac", "NaN"),
        ("target_cac", "Infinity"),
        ("target_cac", "1e999999"),
        ("target_cac", True),
        ("target_cac", [1]),
        ("target_cac", "1000000000000.01"),
        ("max_discount_percent", "100.01"),
        ("max_discount_percent", -1),
        ("max_discount_percent", "12.345"),
        ("currency", "XXXX"),
        ("currency", "ZZZ"),
        ("currency", "rubles"),
        ("currency", 643),
        ("attribution_window_days", 0),
        ("attribution_window_days", 3651),
        ("attribution_window_days", 1.5),
        ("hold_days", -1),
        ("hold_days", "thirty"),
        ("min_click_to_conversion_seconds", -1),
        ("min_click_to_conversion_seconds", 86_401),
        ("attribution_priority", []),
        ("attribution_priority", ["click", "click"]),
        ("attribution_priority", "click"),
        ("attribution_priority", ["promo_code", "click", "utm", "customer", "click"]),
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 201),
        ("name", None),
        ("name", 42),
        ("nmae", "typo"),
    ],
)
def test_an_invalid_term_is_422_naming_the_field(client, admin_headers, field, value):
    assert error_fields(create(client, admin_headers, **{field: value})) == [field]


def test_an_unknown_attribution_method_is_422_naming_its_position(client, admin_headers):
    response = create(client, admin_headers, attribution_priority=["promo_code", "bogus"])
    assert error_fields(response) == ["attribution_priority.1"]


@pytest.mark.parametrize("missing", ["name", "destination_url"])
def test_a_required_field_left_out_is_422_naming_it(client, admin_headers, missing):
    body = {"name": "Shop", "destination_url": SHOP}
    del body[missing]
    response = client.post("/api/v1/offers", json=body, headers=admin_headers)
    assert error_fields(response) == [missing]


def test_currency_is_iso_4217_and_upper_cased(client, admin_headers):
    response = create(client, admin_headers, currency="usd")
    assert response.status_code == 201
    assert response.get_json()["currency"] == "USD"


def test_zero_seconds_turns_the_too_fast_check_off(client, admin_headers):
    response = create(client, admin_headers, min_click_to_conversion_seconds=0, hold_days=0)
    assert response.status_code == 201
    assert response.get_json()["min_click_to_conversion_seconds"] == 0
    assert response.get_json()["hold_days"] == 0


def test_a_custom_attribution_priority_is_kept_in_order(client, admin_headers):
    response = create(client, admin_headers, attribution_priority=["click", "promo_code"])
    assert response.get_json()["attribution_priority"] == ["click", "promo_code"]


def test_offers_with_the_same_name_get_distinct_slugs(client, admin_headers):
    first = create(client, admin_headers, name="Black Friday").get_json()
    second = create(client, admin_headers, name="Black Friday").get_json()
    assert first["slug"] == "black-friday"
    assert second["slug"] != first["slug"]
    assert second["slug"].startswith("black-friday")


def test_a_cyrillic_or_emoji_name_still_gets_an_ascii_slug(client, admin_headers):
    cyrillic = create(client, admin_headers, name="Летняя распродажа").get_json()
    assert cyrillic["slug"] == "letnyaya-rasprodazha"
    assert cyrillic["name"] == "Летняя распродажа"
    emoji = create(client, admin_headers, name="🔥🔥🔥").get_json()
    assert emoji["slug"].isascii() and emoji["slug"]


# Reading -----------------------------------------------------------------------------------


def test_an_offer_is_read_back_as_created(client, admin_headers):
    created = create(client, admin_headers, target_cac="500.00").get_json()
    response = client.get(f"/api/v1/offers/{created['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_an_unknown_offer_is_404(client, admin_headers):
    response = client.get("/api/v1/offers/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_offers_are_listed_newest_first(client, admin_headers):
    older, newer = OfferFactory(), OfferFactory()
    items = client.get("/api/v1/offers", headers=admin_headers).get_json()["items"]
    assert [item["id"] for item in items] == [newer.id, older.id]


# Changing ----------------------------------------------------------------------------------


def test_an_offer_patch_changes_only_the_fields_sent(client, admin_headers):
    offer = OfferFactory(hold_days=30)
    response = client.patch(
        f"/api/v1/offers/{offer.id}",
        json={"hold_days": 14, "max_discount_percent": "20", "target_cac": None},
        headers=admin_headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["hold_days"] == 14
    assert body["max_discount_percent"] == "20.00"
    assert body["attribution_window_days"] == 30
    assert body["name"] == offer.name


def test_an_offer_can_be_archived_and_restored(client, admin_headers):
    offer = OfferFactory()
    for status in ("archived", "active"):
        response = client.patch(
            f"/api/v1/offers/{offer.id}", json={"status": status}, headers=admin_headers
        )
        assert response.get_json()["status"] == status


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "destination_url",
        "allowed_domains",
        "currency",
        "attribution_window_days",
        "hold_days",
        "min_click_to_conversion_seconds",
        "attribution_priority",
        "status",
    ],
)
def test_a_required_term_cannot_be_patched_to_null(client, admin_headers, field):
    offer = OfferFactory()
    before = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    response = client.patch(f"/api/v1/offers/{offer.id}", json={field: None}, headers=admin_headers)
    assert error_fields(response) == [field]
    after = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    assert after == before


def test_a_patch_cannot_move_the_destination_outside_the_allowed_domains(client, admin_headers):
    offer = OfferFactory()
    response = client.patch(
        f"/api/v1/offers/{offer.id}",
        json={"destination_url": "https://evil.com/", "name": "Renamed"},
        headers=admin_headers,
    )
    assert error_fields(response) == ["destination_url"]
    after = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    assert after["destination_url"] == offer.destination_url
    assert after["name"] == offer.name


def test_a_patch_cannot_shrink_allowed_domains_under_a_live_link(client, admin_headers):
    offer = OfferFactory(allowed_domains=["shop.example.com", "blog.example.com"])
    LinkFactory(offer=offer, destination_url="https://blog.example.com/post")
    response = client.patch(
        f"/api/v1/offers/{offer.id}",
        json={"allowed_domains": ["shop.example.com"]},
        headers=admin_headers,
    )
    assert error_fields(response) == ["allowed_domains"]
    after = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    assert sorted(after["allowed_domains"]) == ["blog.example.com", "shop.example.com"]


def test_allowed_domains_may_shrink_once_the_link_is_archived(client, admin_headers):
    offer = OfferFactory(allowed_domains=["shop.example.com", "blog.example.com"])
    link = LinkFactory(offer=offer, destination_url="https://blog.example.com/post")
    client.delete(f"/api/v1/links/{link.id}", headers=admin_headers)
    response = client.patch(
        f"/api/v1/offers/{offer.id}",
        json={"allowed_domains": ["shop.example.com"]},
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert response.get_json()["allowed_domains"] == ["shop.example.com"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_domains", []),
        ("status", "deleted"),
        ("hold_days", -5),
        ("max_discount_percent", "101"),
        ("currency", "ABC"),
        ("slug", "custom"),
        ("id", 5),
    ],
)
def test_an_invalid_patch_is_422_naming_the_field(client, admin_headers, field, value):
    offer = OfferFactory()
    response = client.patch(
        f"/api/v1/offers/{offer.id}", json={field: value}, headers=admin_headers
    )
    assert error_fields(response) == [field]


def test_patching_an_unknown_offer_is_404(client, admin_headers):
    response = client.patch("/api/v1/offers/999999", json={"name": "x"}, headers=admin_headers)
    assert response.status_code == 404


def test_an_empty_patch_changes_nothing(client, admin_headers):
    offer = OfferFactory()
    before = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    response = client.patch(f"/api/v1/offers/{offer.id}", json={}, headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["hold_days"] == before["hold_days"]


# Access ------------------------------------------------------------------------------------


def test_offers_are_admin_only(client, conversions_headers):
    offer = OfferFactory()
    partner_headers = bearer(partner_key(PartnerFactory()))
    for headers in (conversions_headers, partner_headers):
        assert client.get("/api/v1/offers", headers=headers).status_code == 403
        assert client.get(f"/api/v1/offers/{offer.id}", headers=headers).status_code == 403
        assert create(client, headers).status_code == 403
        response = client.patch(f"/api/v1/offers/{offer.id}", json={"name": "x"}, headers=headers)
        assert response.status_code == 403
    assert client.get(f"/api/v1/offers/{offer.id}").status_code == 401
