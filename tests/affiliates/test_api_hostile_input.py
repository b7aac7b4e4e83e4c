"""No request produces a 5xx: malformed JSON, deep nesting, wrong types, huge numbers, NaN,
negative money, NUL and odd Unicode, unknown ids. Errors are problem+json naming the field."""

from __future__ import annotations

import json
import re
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import RootModel
from sqlalchemy import select

from affiliates.api.core import ENDPOINTS
from affiliates.models import Link
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PayablePartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import sale

PROBLEM = "application/problem+json"
JSON = "application/json"


def assert_sane(response):
    """Below 500; an error is problem+json with the contract's shape."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM, response.mimetype
        body = json.loads(response.get_data())
        assert body["status"] == response.status_code
        assert isinstance(body["errors"], list)
        for error in body["errors"]:
            assert set(error) == {"field", "message"}
    return response


def post_raw(client, headers, path, raw: bytes | str, method="POST"):
    return client.open(path, method=method, data=raw, content_type=JSON, headers=headers)


def error_fields(response, status=422):
    assert_sane(response)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return [error["field"] for error in response.get_json()["errors"]]


# Malformed bodies --------------------------------------------------------------------------

MALFORMED = [
    b"",
    b"   \n\t ",
    b"{",
    b"}",
    b'{"name": }',
    b'{"name": "Shop",}',
    b"{'name': 'Shop'}",
    b'{"name": "unterminated}',
    b"nul",
    b"undefined",
    b"\xff\xfe\xfd",
    b'{"name": "\xc3\x28"}',
    b"\x00\x00\x00{",
    b"\xef\xbb\xbf{}",
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"target_cac": NaN}',
    b'{"target_cac": Infinity}',
    b'{"target_cac": -Infinity}',
    b'{"hold_days": 1e999999}',
    b'{"hold_days": 1e999999999}',
    b'{"hold_days": -1e999999999}',
    b'{"hold_days": ' + b"9" * 5000 + b"}",
    b'{"hold_days": 1' + b"0" * 5000 + b"}",
    b'{"hold_days": 0x10}',
    b'{"hold_days": 01}',
    b'{"hold_days": +1}',
    b'{"name": "Shop"} trailing',
    b'{"name": "\\ud800"}',
    b'{"name": "\\u00"}',
]


@pytest.mark.parametrize("raw", MALFORMED, ids=lambda raw: repr(raw[:30]))
@pytest.mark.parametrize("path", ["/api/v1/offers", "/api/v1/partners", "/api/v1/links"])
def test_a_malformed_json_body_is_a_4xx_problem_never_a_5xx(client, admin_headers, path, raw):
    response = assert_sane(post_raw(client, admin_headers, path, raw))
    assert response.status_code in (400, 422)


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"offer"', b"42", b"null", b"true", b"1.5"])
def test_a_body_that_is_not_an_object_is_400_naming_body(client, admin_headers, raw):
    response = post_raw(client, admin_headers, "/api/v1/offers", raw)
    assert error_fields(response, 400) == ["body"]


def test_an_empty_body_is_400(client, admin_headers):
    response = post_raw(client, admin_headers, "/api/v1/offers", b"")
    assert error_fields(response, 400) == []


def test_a_body_without_a_json_content_type_is_still_read_as_json(client, admin_headers):
    response = client.post(
        "/api/v1/partners",
        data='{"name": "Blog", "email": "blog@example.com"}',
        content_type="text/plain",
        headers=admin_headers,
    )
    assert response.status_code == 201


def test_a_body_over_the_size_cap_is_413_problem(client, admin_headers):
    raw = json.dumps({"name": "x" * (2 * 1024 * 1024), "destination_url": "https://a.example.com"})
    response = assert_sane(post_raw(client, admin_headers, "/api/v1/offers", raw))
    assert response.status_code == 413


# Wrong types, huge numbers, NaN, negative money --------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        [],
        {},
        {"$gt": 0},
        "",
        "12,50",
        "1 000",
        "$10",
        "10 RUB",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "1e999999",
        "-1e999999",
        "1e-999999",
        "9" * 5000,
        "-1",
        "-0.01",
        -100,
        "0.001",
        "0x10",
    ],
    ids=repr,
)
def test_wrong_money_is_422_naming_the_field(client, admin_headers, value):
    response = client.post(
        "/api/v1/offers",
        json={"name": "Shop", "destination_url": "https://a.example.com", "target_cac": value},
        headers=admin_headers,
    )
    if value is None:  # null is "no target CAC"
        assert response.status_code == 201
    else:
        assert error_fields(response) == ["target_cac"]


@pytest.mark.parametrize(
    "value",
    [None, True, "", "abc", "1.5", 1.5, -1, 0, 2**31, 2**53 + 1, 10**100, [1], {"id": 1}, "1e3"],
    ids=repr,
)
def test_a_wrong_id_is_422_naming_the_field(client, admin_headers, value):
    offer = OfferFactory()
    response = client.post(
        "/api/v1/links", json={"partner_id": value, "offer_id": offer.id}, headers=admin_headers
    )
    assert error_fields(response) == ["partner_id"]


@pytest.mark.parametrize(
    "value", [10**18, -(10**18), 1e308, "9" * 4000, "1e400"], ids=lambda v: repr(v)[:20]
)
def test_huge_numbers_in_integer_fields_are_422(client, admin_headers, value):
    response = client.post(
        "/api/v1/offers",
        json={"name": "Shop", "destination_url": "https://a.example.com", "hold_days": value},
        headers=admin_headers,
    )
    assert error_fields(response) == ["hold_days"]


def test_a_huge_exponent_is_refused_quickly(client, admin_headers):
    # Turning 1e999999999 into an int would take minutes; the parser refuses it first.
    response = post_raw(
        client, admin_headers, "/api/v1/offers", b'{"name": "Shop", "hold_days": 1e999999999}'
    )
    assert error_fields(response, 400) == []


def test_a_one_megabyte_string_is_422_not_stored(client, admin_headers):
    response = client.post(
        "/api/v1/partners",
        json={"name": "n" * 1_000_000, "email": "big@example.com"},
        headers=admin_headers,
    )
    assert error_fields(response) == ["name"]


@pytest.mark.parametrize(
    "field", ["name", "destination_url", "currency", "allowed_domains"], ids=str
)
def test_a_megabyte_of_text_in_any_offer_field_is_a_4xx(client, admin_headers, field):
    big = "a" * 1_000_000
    body = {"name": "Shop", "destination_url": "https://a.example.com"}
    body[field] = [big] if field == "allowed_domains" else big
    response = assert_sane(client.post("/api/v1/offers", json=body, headers=admin_headers))
    assert response.status_code == 422


# Text: NUL, Unicode, surrogates ------------------------------------------------------------


NUL_BODIES = [
    ("/api/v1/offers", {"name": "Sh\x00op", "destination_url": "https://a.example.com"}, "name"),
    ("/api/v1/partners", {"name": "\x00", "email": "nul@example.com"}, "name"),
    (
        "/api/v1/partners",
        {"name": "B", "email": "nul@example.com", "password": "\x00" * 9},
        "password",
    ),
]


@pytest.mark.parametrize(("path", "body", "field"), NUL_BODIES)
def test_text_with_nul_is_422_naming_the_field(client, admin_headers, path, body, field):
    assert error_fields(client.post(path, json=body, headers=admin_headers)) == [field]


def test_nul_in_a_link_tag_is_422_and_nothing_is_stored(client, admin_headers, session):
    link = LinkFactory(sub_id="kept")
    attempts = [
        ("POST", "/api/v1/links", {"partner_id": link.partner_id, "offer_id": link.offer_id,
                                   "utm_term": "a\x00"}),
        ("PATCH", f"/api/v1/links/{link.id}", {"sub_id": "\x00"}),
    ]  # fmt: skip
    for method, path, body in attempts:
        response = client.open(path, method=method, json=body, headers=admin_headers)
        assert error_fields(response) in (["utm_term"], ["sub_id"])
    session.expire_all()
    assert session.scalars(select(Link)).all() == [link]
    assert link.sub_id == "kept"


@pytest.mark.parametrize(
    ("field", "value"),
    [("holder_name", "Anna\x00"), ("card_number", "4111\x001111"), ("method", "card\x00")],
)
def test_nul_in_payout_details_is_422_naming_the_field(client, admin_headers, field, value):
    partner = PartnerFactory()
    body = {"method": "card", "holder_name": "Anna", "card_number": "4111111111111111"}
    response = client.put(f"/api/v1/partners/{partner.id}/payout-details",
                          json={**body, field: value}, headers=admin_headers)  # fmt: skip
    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    "value",
    [
        "4" * 1_000_000,
        "٤١١١١١١١١١١١١١١١",
        "４１１１１１１１１１１１１１１１",
        "4111 1111\t1111 1111",
    ],
)
def test_huge_or_non_ascii_digits_in_a_card_number_are_422(client, admin_headers, value):
    partner = PartnerFactory()
    body = {"method": "card", "holder_name": "Anna", "card_number": value}
    response = client.put(f"/api/v1/partners/{partner.id}/payout-details", json=body,
                          headers=admin_headers)  # fmt: skip
    assert error_fields(response) == ["card_number"]


def test_nul_in_a_partner_api_key_name_is_422(client, admin_headers):
    partner = PartnerFactory()
    response = client.post(
        f"/api/v1/partners/{partner.id}/api-keys", json={"name": "\x00"}, headers=admin_headers
    )
    assert error_fields(response) == ["name"]


def test_nul_in_a_query_parameter_is_422(client, conversions_headers):
    response = client.get(
        "/api/v1/promo-codes/SUMMER10",
        query_string={"customer_id": "a\x00b"},
        headers=conversions_headers,
    )
    assert error_fields(response) == ["customer_id"]


def test_nul_in_a_path_is_404(client, conversions_headers):
    response = assert_sane(client.get("/api/v1/promo-codes/A%00B", headers=conversions_headers))
    assert response.status_code == 404


def test_nul_in_the_api_key_is_401(client):
    key = "aff_" + "\x00" * 12 + "_" + "x" * 30
    response = assert_sane(client.get("/api/v1/offers", headers=bearer(key)))
    assert response.status_code == 401


@pytest.mark.parametrize(
    "name",
    [
        "Магазин «Весна»",
        "店铺",
        "متجر",
        "🛍️🔥",
        "Z̴̢̛a̷l̸g̵o̶",
        "\u202etxet desrever",
        "<script>alert(1)</script>",
        "'; DROP TABLE offers; --",
        "\ufeffBOM",
        "tab\tand\nnewline",
    ],
)
def test_unicode_and_markup_in_names_are_stored_as_given(client, admin_headers, name):
    response = client.post(
        "/api/v1/partners",
        json={"name": name, "email": "u@example.com"},
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert response.get_json()["name"] == name.strip()


def test_a_lone_surrogate_is_422(client, admin_headers):
    raw = '{"name": "x\\udc00y", "email": "s@example.com"}'
    assert error_fields(post_raw(client, admin_headers, "/api/v1/partners", raw)) == ["name"]


# Dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:59:59Z",
        "2024-02-30",
        "2024-01-01T25:00:00Z",
        "tomorrow",
        "",
        "-1",
        "99999999999999999999",
    ],
)
@pytest.mark.parametrize("name", ["from", "to"])
def test_out_of_range_or_bad_dates_in_stats_are_422(client, admin_headers, name, value):
    response = client.get("/api/v1/stats", query_string={name: value}, headers=admin_headers)
    assert error_fields(response) and set(error_fields(response)) == {name}


# Unknown ids and strange paths -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/offers/0",
        "/api/v1/offers/999999",
        "/api/v1/offers/2147483648",
        "/api/v1/offers/9223372036854775808",
        "/api/v1/offers/" + "9" * 100,
        "/api/v1/offers/-1",
        "/api/v1/offers/1.5",
        "/api/v1/offers/abc",
        "/api/v1/offers/%00",
        "/api/v1/partners/99999999999999999999",
        "/api/v1/partners/99999999999999999999/payout-details",
        "/api/v1/partners/0/payout-details",
        "/api/v1/links/99999999999999999999",
        "/api/v1/promo-codes/" + "A" * 10_000,
    ],
)
def test_unknown_or_impossible_ids_are_404_never_5xx(client, admin_headers, path):
    response = assert_sane(client.get(path, headers=admin_headers))
    assert response.status_code in (200, 404)  # a promo code check answers "unknown" with 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/offers/99999999999999999999"),
        ("PATCH", "/api/v1/partners/99999999999999999999"),
        ("POST", "/api/v1/partners/99999999999999999999/api-keys"),
        ("PATCH", "/api/v1/links/99999999999999999999"),
        ("DELETE", "/api/v1/links/99999999999999999999"),
        ("PATCH", "/api/v1/promo-codes/99999999999999999999"),
        ("PUT", "/api/v1/partners/99999999999999999999/payout-details"),
        ("PUT", "/api/v1/partners/2147483648/payout-details"),
    ],
)
def test_changing_an_impossible_id_is_404(client, admin_headers, method, path):
    response = assert_sane(client.open(path, method=method, json={}, headers=admin_headers))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["partner_id", "offer_id"])
@pytest.mark.parametrize("value", ["0", "2147483648", "9" * 30, "x", "1.5"])
def test_an_impossible_id_in_a_list_filter_is_422(client, admin_headers, name, value):
    response = client.get("/api/v1/links", query_string={name: value}, headers=admin_headers)
    assert error_fields(response) == [name]


@pytest.mark.parametrize("limit", ["1" * 5000, "-0", "NaN", "\x00"])
def test_strange_limits_are_422(client, admin_headers, limit):
    response = client.get("/api/v1/links", query_string={"limit": limit}, headers=admin_headers)
    assert error_fields(response) == ["limit"]


# Random JSON to every POST and PATCH route --------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "1499.00",
            "-0.01",
            "NaN",
            "1e999",
            "https://shop.example.com/x",
            "https://shop.example.com@evil.com",
            "javascript:alert(1)",
            "2030-01-01T00:00:00Z",
            "0001-01-01",
            "percent",
            "amount",
            "sale",
            "lead",
            "active",
            "RUB",
            "a\x00b",
            "ß" * 40,
            "x" * 300,
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

WRITE_ROUTES = sorted(
    {(ep.method, ep.rule, ep.body) for ep in ENDPOINTS if ep.method in ("POST", "PATCH", "PUT")},
    key=lambda route: (route[1], route[0]),
)
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def _field_names(model) -> list[str]:
    """The body's keys as clients send them (`from`, not `from_`); for a body that is one of
    several models (payout details, by `method`), the keys of them all."""
    if model is None:
        return []
    if issubclass(model, RootModel):
        members = typing.get_args(model.model_fields["root"].annotation)
        return sorted({name for member in members for name in _field_names(member)})
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _objects(client, admin) -> dict:
    """One of each kind of object, so the random bodies reach the real code paths."""
    offer = OfferFactory()
    partner = PayablePartnerFactory()
    link = LinkFactory(partner=partner, offer=offer)
    code = PromoCodeFactory(partner=partner, offer=offer)
    conversion = sale(client, admin, offer, f"order-{offer.id}", "1499.00")
    rule = client.post(
        "/api/v1/commission-rules",
        json={"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"},
        headers=admin,
    )
    assert rule.status_code == 201, rule.get_data(as_text=True)
    credit = client.post(
        f"/api/v1/partners/{partner.id}/adjustments",
        json={"amount": "1000.00", "memo": "seed"},
        headers=admin,
    )
    assert credit.status_code == 201, credit.get_data(as_text=True)
    run = client.post("/api/v1/payouts/run", json={}, headers=admin)
    assert run.status_code == 201, run.get_data(as_text=True)
    (payout,) = [item for item in run.get_json()["items"] if item["partner_id"] == partner.id]
    return {
        "payout_id": payout["id"],
        "rule_id": rule.get_json()["id"],
        "offer_id": offer.id,
        "partner_id": partner.id,
        "link_id": link.id,
        "code": code.code,
        "conversion_id": conversion["id"],
        "partner_headers": bearer(partner_key(partner)),
    }


@pytest.mark.parametrize(
    ("method", "rule", "model"), WRITE_ROUTES, ids=[f"{m} {r}" for m, r, _ in WRITE_ROUTES]
)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_json_objects_never_cause_a_5xx(client, admin_headers, method, rule, model, data):
    objects = _objects(client, admin_headers)
    names = _field_names(model) + ["id", "extra"]
    body = data.draw(
        st.dictionaries(st.sampled_from(names) | st.text(max_size=8), json_values, max_size=8),
        label="body",
    )
    known = data.draw(st.booleans(), label="known ids")
    path = "/api/v1" + _PARAM.sub(lambda m: str(objects[m.group(1)] if known else 999_999), rule)
    raw = json.dumps(body, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    headers = data.draw(st.sampled_from([admin_headers, objects["partner_headers"]]), label="key")
    assert_sane(post_raw(client, headers, path, raw, method=method))


def _valid_bodies(objects: dict, n: int) -> dict[tuple[str, str], dict]:
    """A body each write route accepts, so one hostile field gets past the others."""
    return {
        ("POST", "/offers"): {"name": f"Shop {n}", "destination_url": "https://shop.example.com/"},
        ("PATCH", "/offers/<int:offer_id>"): {"hold_days": 7},
        ("POST", "/partners"): {"name": "Blog", "email": f"blog{n}@example.com"},
        ("PATCH", "/partners/<int:partner_id>"): {"status": "active"},
        ("POST", "/partners/<int:partner_id>/api-keys"): {"name": "site"},
        ("POST", "/links"): {"partner_id": objects["partner_id"], "offer_id": objects["offer_id"]},
        ("PATCH", "/links/<int:link_id>"): {"utm_content": "x"},
        ("POST", "/promo-codes"): {
            "code": f"CODE-{n}",
            "partner_id": objects["partner_id"],
            "offer_id": objects["offer_id"],
            "discount_type": "percent",
            "discount_value": "5",
        },
        ("PATCH", "/promo-codes/<string:code>"): {"max_uses": 10},
        ("POST", "/conversions"): {
            "offer_id": objects["offer_id"],
            "order_id": f"o-{n}",
            "amount": "1499.00",
        },
        ("POST", "/conversions/<int:conversion_id>/refund"): {"amount": "1.00"},
        ("POST", "/conversions/<int:conversion_id>/approve"): {"reason": "ok"},
        ("POST", "/conversions/<int:conversion_id>/reject"): {"reason": "fraud"},
        ("POST", "/commission-rules"): {"type": "sale", "kind": "fixed", "value": "100.00"},
        ("PATCH", "/commission-rules/<int:rule_id>"): {"priority": 5},
        ("POST", "/commission-rules/preview"): {
            "offer_id": objects["offer_id"],
            "partner_id": objects["partner_id"],
            "amount": "1000.00",
        },
        ("POST", "/commission-rules/simulate"): {
            "offer_id": objects["offer_id"],
            "from": "2026-03-01",
            "to": "2026-03-31T23:59:59Z",
            "rules": [{"type": "sale", "kind": "percent", "value": "10", "cap": "500.00"}],
            "replace": False,
        },
        ("POST", "/partners/<int:partner_id>/adjustments"): {"amount": "-10.00", "memo": "fee"},
        ("POST", "/payouts/run"): {"currency": "RUB", "min_amount": "500.00"},
        ("PUT", "/partners/<int:partner_id>/payout-details"): {
            "method": "bank_transfer",
            "holder_name": "ООО «Ромашка»",
            "bank_name": "ПАО Сбербанк",
            "bic": "044525225",
            "account_number": "40702810200000012345",
            "correspondent_account": "30101810400000000225",
            "inn": "7707083893",
        },
        ("POST", "/payouts/<int:payout_id>/mark-paid"): {"reference": "BANK-1"},
        ("POST", "/payouts/<int:payout_id>/mark-failed"): {"reason": "account closed"},
        ("POST", "/commission-rules/recalculate"): {
            "offer_id": objects["offer_id"],
            "from": "2026-03-01",
            "to": "2026-03-31",
            "dry_run": True,
        },
    }


_examples = iter(range(10**9))


@pytest.mark.parametrize(
    ("method", "rule", "model"), WRITE_ROUTES, ids=[f"{m} {r}" for m, r, _ in WRITE_ROUTES]
)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_one_hostile_field_in_a_valid_body_never_causes_a_5xx(
    client, admin_headers, method, rule, model, data
):
    objects = _objects(client, admin_headers)
    body = dict(_valid_bodies(objects, next(_examples))[(method, rule)])
    assert set(body) <= set(_field_names(model)), "keep the valid bodies in step with the API"
    field = data.draw(st.sampled_from(_field_names(model)), label="field")
    body[field] = data.draw(json_values, label="value")
    path = "/api/v1" + _PARAM.sub(lambda m: str(objects[m.group(1)]), rule)
    response = post_raw(client, admin_headers, path, json.dumps(body), method=method)
    assert_sane(response)
