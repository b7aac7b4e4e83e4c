"""Strict coercion: booleans are JSON booleans (query strings: exactly `true` or `false`),
integers are JSON integers (query strings: ASCII digits), dates and times are ISO 8601 text,
money is ASCII decimal text or a JSON number, read exactly. Anything looser is 422 naming the
field, never silently read as something else."""

from __future__ import annotations

import pytest

from tests.affiliates.test_api_hostile_input import error_fields
from tests.factories import LinkFactory, OfferFactory, PromoCodeFactory
from tests.helpers import T0, iso

OFFER = {"name": "Shop", "destination_url": "https://shop.example.com"}
RULE = {"type": "sale", "kind": "fixed", "value": "10.00"}
NOT_BOOLEANS = ["yes", "true", "false", "1", 1, 0, "on", None]
NOT_TIMESTAMPS = [0, 0.5, 1700000000, "1700000000", "0.5", "tomorrow", "10/03/2026", True,
                  "2026-03-10T12:00:00+0300x", "\u0662\u0660\u0662\u0666-03-10"]  # fmt: skip


# Booleans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_a_json_boolean_field_takes_only_true_or_false(client, admin_headers, value):
    link = LinkFactory()
    response = client.patch(f"/api/v1/links/{link.id}", json={"archived": value},
                            headers=admin_headers)  # fmt: skip
    assert error_fields(response) == ["archived"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/offers", "require_click_for_code"),
        ("/api/v1/commission-rules", "new_customers_only"),
    ],
)
@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_every_body_boolean_is_strict(client, admin_headers, path, field, value):
    body = {"/api/v1/offers": OFFER, "/api/v1/commission-rules": RULE}[path] | {field: value}
    assert error_fields(client.post(path, json=body, headers=admin_headers)) == [field]


def _warned(response) -> list[str]:
    assert response.status_code == 201, response.get_data(as_text=True)
    return [warning["field"] for warning in response.get_json()["warnings"]]


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_a_loose_boolean_in_a_sale_is_dropped_with_a_warning_never_read(client,
                                                                        conversions_headers,
                                                                        value):  # fmt: skip
    # the intake keeps a sale whose required fields are good: an optional field that cannot
    # be used is dropped and named, never read as something else
    offer = OfferFactory()
    body = {"offer_id": offer.id, "order_id": "A-1", "amount": "10.00", "new_customer": value}
    response = client.post("/api/v1/conversions", json=body, headers=conversions_headers)
    assert _warned(response) == ["new_customer"]


def test_a_json_boolean_is_read_as_itself(client, admin_headers):
    code = PromoCodeFactory()
    response = client.patch(f"/api/v1/promo-codes/{code.code}", json={"active": False},
                            headers=admin_headers)  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["active"] is False


@pytest.mark.parametrize("value", ["yes", "1", "0", "True", "FALSE", "on", "", "t"])
@pytest.mark.parametrize(("path", "name"), [("/api/v1/links", "archived"),
                                            ("/api/v1/commission-rules", "active")])  # fmt: skip
def test_a_query_boolean_takes_only_the_words_true_and_false(client, admin_headers, path, name,
                                                             value):  # fmt: skip
    response = client.get(path, query_string={name: value}, headers=admin_headers)
    assert error_fields(response) == [name]


def test_the_query_words_true_and_false_filter(client, admin_headers):
    LinkFactory()
    archived = LinkFactory(archived_at=T0)
    shown = client.get("/api/v1/links", query_string={"archived": "true"}, headers=admin_headers)
    assert [item["id"] for item in shown.get_json()["items"]] == [archived.id]
    live = client.get("/api/v1/links", query_string={"archived": "false"}, headers=admin_headers)
    assert archived.id not in [item["id"] for item in live.get_json()["items"]]


# Integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", 5.0, "5.0", True, "\u0665"], ids=repr)
def test_a_json_integer_field_takes_only_json_integers(client, admin_headers, value):
    response = client.post("/api/v1/offers", json=OFFER | {"hold_days": value},
                           headers=admin_headers)  # fmt: skip
    assert error_fields(response) == ["hold_days"]


@pytest.mark.parametrize("value", ["\u0663", "+5", "5.0", "1e1", " 5", "0x5", "five"])
@pytest.mark.parametrize("name", ["limit", "offer_id"])
def test_a_query_integer_takes_only_ascii_digits(client, admin_headers, name, value):
    response = client.get("/api/v1/links", query_string={name: value}, headers=admin_headers)
    assert error_fields(response) == [name]


# Dates and times --------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_TIMESTAMPS, ids=repr)
def test_a_body_timestamp_is_iso_8601_text_only(client, admin_headers, value):
    response = client.post("/api/v1/commission-rules", json=RULE | {"ends_at": value},
                           headers=admin_headers)  # fmt: skip
    assert error_fields(response) == ["ends_at"]


@pytest.mark.parametrize("value", ["0", "0.5", "1700000000", "-1", "2026", "tomorrow"])
@pytest.mark.parametrize("path", ["/api/v1/conversions", "/api/v1/stats"])
def test_a_query_date_is_iso_8601_never_a_unix_time(client, admin_headers, path, value):
    response = client.get(path, query_string={"from": value}, headers=admin_headers)
    assert error_fields(response) == ["from"]


@pytest.mark.parametrize("value", ["2026-03-01", "2026-03-01T10:00:00Z",
                                   "2026-03-01T13:00:00+03:00", "2026-03-01T10:00"])  # fmt: skip
def test_iso_8601_dates_and_times_are_read(client, admin_headers, value):
    response = client.get("/api/v1/stats", query_string={"from": value}, headers=admin_headers)
    assert response.status_code == 200
    response = client.post("/api/v1/commission-rules", json=RULE | {"starts_at": value},
                           headers=admin_headers)  # fmt: skip
    assert response.status_code == 201


def test_a_sales_time_of_0_is_not_read_as_1970(client, conversions_headers, clock):
    offer = OfferFactory()
    body = {"offer_id": offer.id, "order_id": "A-1", "amount": "10.00", "occurred_at": 0}
    response = client.post("/api/v1/conversions", json=body, headers=conversions_headers)
    assert _warned(response) == ["occurred_at"]
    assert response.get_json()["occurred_at"] == iso(T0)  # dropped: the time it arrived


# Money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1_000", "\u0661\u0660\u0660\u0660", "\u0967\u0966", "1e3", "1E3", "NaN", "Infinity",
     "-Infinity", "+10", " 10", "10 ", "1,000", "0x10", ".5", "5.", "١٠.٥٠", True, [], {}],
    ids=repr,
)  # fmt: skip
def test_money_is_ascii_decimal_text_or_a_json_number(client, admin_headers, value):
    response = client.post("/api/v1/offers", json=OFFER | {"target_cac": value},
                           headers=admin_headers)  # fmt: skip
    assert error_fields(response) == ["target_cac"]


@pytest.mark.parametrize(("raw", "shown"), [("1499.5", "1499.50"), ("7", "7.00"),
                                            ("1e3", "1000.00"), ("0.10", "0.10")])  # fmt: skip
def test_a_json_number_is_money_read_exactly(client, admin_headers, raw, shown):
    body = '{"name": "Shop", "destination_url": "https://shop.example.com", "target_cac": %s}'
    response = client.post("/api/v1/offers", data=body % raw, content_type="application/json",
                           headers=admin_headers)  # fmt: skip
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["target_cac"] == shown


# PATCH: what may be null ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [("offers", "name"), ("offers", "hold_days"), ("offers", "require_click_for_code"),
     ("partners", "email"), ("partners", "status"), ("links", "archived")],
)  # fmt: skip
def test_a_patch_field_that_may_not_be_null_refuses_null(client, admin_headers, path, field):
    link = LinkFactory()
    target = {"offers": link.offer_id, "partners": link.partner_id, "links": link.id}[path]
    response = client.patch(f"/api/v1/{path}/{target}", json={field: None},
                            headers=admin_headers)  # fmt: skip
    assert error_fields(response) == [field]
    assert response.get_json()["errors"][0]["message"] == "May be omitted, but not null."


def test_a_nullable_patch_field_is_cleared_by_null(client, admin_headers):
    offer = OfferFactory()
    client.patch(f"/api/v1/offers/{offer.id}", json={"target_cac": "100.00"},
                 headers=admin_headers)  # fmt: skip
    response = client.patch(f"/api/v1/offers/{offer.id}", json={"target_cac": None},
                            headers=admin_headers)  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["target_cac"] is None
