"""API conventions: keys and scopes, problem+json, cursor pagination, OpenAPI, /healthz."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from affiliates.extensions import db
from affiliates.models import ApiKey
from affiliates.services import api_keys
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PromoCodeFactory,
    partner_key,
)

PROBLEM = "application/problem+json"

# Routes only an admin key may use: (method, path, body). Ids are placeholders; scope is
# checked before the id is looked up, so they need not exist.
ADMIN_ONLY = [
    ("POST", "/api/v1/offers", {}),
    ("GET", "/api/v1/offers", None),
    ("GET", "/api/v1/offers/1", None),
    ("PATCH", "/api/v1/offers/1", {}),
    ("POST", "/api/v1/partners", {}),
    ("GET", "/api/v1/partners", None),
    ("GET", "/api/v1/partners/1", None),
    ("PATCH", "/api/v1/partners/1", {}),
    ("POST", "/api/v1/partners/1/api-keys", {}),
    ("POST", "/api/v1/promo-codes", {}),
    ("PATCH", "/api/v1/promo-codes/1", {}),
]


def assert_problem(response, status: int) -> dict:
    """The response is an RFC 9457 problem with the contract's fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"field", "message"}
        assert isinstance(error["field"], str) and error["field"]
        assert isinstance(error["message"], str) and error["message"]
    return body


def call(client, method, path, headers, body=None):
    return client.open(path, method=method, json=body, headers=headers)


# Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token aff_000000000000_x",
        "Bearer aff_000000000000_unknownunknownunknown",
        "Bearer not-a-key",
        "Bearer aff_ZZZZZZZZZZZZ_x",
        "Bearer " + "a" * 5000,
        "Bearer aff_\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00_x",
    ],
)
def test_a_missing_or_unknown_key_is_401_problem_with_a_bearer_challenge(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/api/v1/offers", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_bearer_scheme_is_case_insensitive(client, admin_headers):
    key = admin_headers["Authorization"].split(" ", 1)[1]
    assert (
        client.get("/api/v1/offers", headers={"Authorization": f"bearer {key}"}).status_code == 200
    )


def test_a_revoked_key_is_401(client, admin_headers):
    key_id = db.session.scalars(select(ApiKey.id)).one()
    api_keys.revoke(db.session, key_id)
    assert_problem(client.get("/api/v1/offers", headers=admin_headers), 401)


def test_a_key_with_a_changed_secret_is_401(client, admin_headers):
    tampered = admin_headers["Authorization"][:-1] + (
        "A" if not admin_headers["Authorization"].endswith("A") else "B"
    )
    assert_problem(client.get("/api/v1/offers", headers={"Authorization": tampered}), 401)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_a_conversions_key_gets_403_on_admin_routes(
    client, conversions_headers, method, path, body
):
    assert_problem(call(client, method, path, conversions_headers, body), 403)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_a_partner_key_gets_403_on_admin_only_routes(client, method, path, body):
    headers = bearer(partner_key(PartnerFactory()))
    assert_problem(call(client, method, path, headers, body), 403)


def test_a_conversions_key_gets_403_on_links_and_stats(client, conversions_headers):
    for path in ("/api/v1/links", "/api/v1/stats", "/api/v1/links/1"):
        assert_problem(client.get(path, headers=conversions_headers), 403)


def test_authentication_comes_before_validation_and_lookup(client):
    # No key: 401 even though the body is malformed and the id unknown.
    response = client.patch("/api/v1/offers/999999", data=b"{", content_type="application/json")
    assert_problem(response, 401)


def test_the_scope_is_checked_before_the_body(client, conversions_headers):
    response = client.post(
        "/api/v1/offers", data=b"{", content_type="application/json", headers=conversions_headers
    )
    assert_problem(response, 403)


# problem+json ------------------------------------------------------------------------------


def test_validation_errors_are_422_problem_naming_each_field(client, admin_headers):
    response = client.post(
        "/api/v1/offers",
        json={"name": "", "destination_url": "ftp://shop.example.com", "hold_days": -1},
        headers=admin_headers,
    )
    body = assert_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"name", "destination_url", "hold_days"} <= fields


def test_a_nested_field_error_names_its_path(client, admin_headers):
    response = client.post(
        "/api/v1/offers",
        json={
            "name": "Shop",
            "destination_url": "https://shop.example.com/",
            "allowed_domains": ["shop.example.com", "not a host"],
        },
        headers=admin_headers,
    )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["allowed_domains.1"]


def test_an_unknown_field_is_422_naming_it(client, admin_headers):
    response = client.post(
        "/api/v1/partners",
        json={"name": "Blog", "email": "blog@example.com", "emial": "typo@example.com"},
        headers=admin_headers,
    )
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["emial"]


def test_a_malformed_body_is_400_problem(client, admin_headers):
    response = client.post(
        "/api/v1/offers", data=b'{"name": ', content_type="application/json", headers=admin_headers
    )
    assert_problem(response, 400)


def test_an_unknown_id_is_404_problem(client, admin_headers):
    assert_problem(client.get("/api/v1/offers/424242", headers=admin_headers), 404)


def test_a_conflict_is_409_problem(client, admin_headers):
    PartnerFactory(email="taken@example.com")
    response = client.post(
        "/api/v1/partners",
        json={"name": "Blog", "email": "taken@example.com"},
        headers=admin_headers,
    )
    body = assert_problem(response, 409)
    assert [error["field"] for error in body["errors"]] == ["email"]


def test_an_unknown_api_path_is_404_problem_not_a_page(client, admin_headers):
    assert_problem(client.get("/api/v1/no-such-thing", headers=admin_headers), 404)
    assert_problem(client.get("/api/v2/offers", headers=admin_headers), 404)


def test_a_wrong_method_is_405_problem_with_allow(client, admin_headers):
    response = client.put("/api/v1/offers", json={}, headers=admin_headers)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_successful_answers_are_json_with_snake_case_keys(client, admin_headers):
    offer = OfferFactory()
    response = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in response.get_json())


def test_timestamps_are_iso_8601_utc(client, admin_headers):
    offer = OfferFactory()
    body = client.get(f"/api/v1/offers/{offer.id}", headers=admin_headers).get_json()
    for name in ("created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body[name]), body[name]


# Pagination --------------------------------------------------------------------------------


def _make_offers(n):
    return [OfferFactory() for _ in range(n)]


def _make_partners(n):
    return [PartnerFactory() for _ in range(n)]


def _make_links(n):
    partner, offer = PartnerFactory(), OfferFactory()
    return [LinkFactory(partner=partner, offer=offer) for _ in range(n)]


def _make_promo_codes(n):
    partner, offer = PartnerFactory(), OfferFactory()
    return [PromoCodeFactory(partner=partner, offer=offer) for _ in range(n)]


LISTS = [
    ("/api/v1/offers", _make_offers),
    ("/api/v1/partners", _make_partners),
    ("/api/v1/links", _make_links),
    ("/api/v1/promo-codes", _make_promo_codes),
]


def walk(client, headers, path, limit):
    """Every page of a list: its ids, in order, and how many pages it took."""
    ids, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, query_string=query, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert isinstance(cursor, str) and cursor


@pytest.mark.parametrize(("path", "make"), LISTS)
def test_lists_page_newest_first_through_cursors_without_gaps_or_repeats(
    client, admin_headers, path, make
):
    made = make(7)
    ids, pages = walk(client, admin_headers, path, 3)
    assert ids == sorted((obj.id for obj in made), reverse=True)
    assert pages == 3


@pytest.mark.parametrize(("path", "make"), LISTS)
def test_a_page_of_exactly_limit_items_ends_without_an_empty_next_page(
    client, admin_headers, path, make
):
    make(4)
    body = client.get(path, query_string={"limit": 4}, headers=admin_headers).get_json()
    assert len(body["items"]) == 4
    assert body["next_cursor"] is None


def test_the_default_limit_is_50(client, admin_headers):
    _make_offers(51)
    body = client.get("/api/v1/offers", headers=admin_headers).get_json()
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None
    rest = client.get(
        "/api/v1/offers", query_string={"cursor": body["next_cursor"]}, headers=admin_headers
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_an_empty_list_has_no_next_cursor(client, admin_headers):
    assert client.get("/api/v1/offers", headers=admin_headers).get_json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "limit", ["0", "-1", "501", "abc", "1.5", "", "1e3", "99999999999999999999"]
)
def test_a_limit_outside_1_to_500_is_422_naming_limit(client, admin_headers, limit):
    response = client.get("/api/v1/offers", query_string={"limit": limit}, headers=admin_headers)
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["limit"]


def test_a_limit_of_500_is_allowed(client, admin_headers):
    response = client.get("/api/v1/offers", query_string={"limit": 500}, headers=admin_headers)
    assert response.status_code == 200


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        _b64("id:abc"),
        _b64("id:-5"),
        _b64("id:1.5"),
        _b64("page:2"),
        _b64("id:" + "9" * 30),
        _b64("id:\u0663"),
        base64.b64encode(b"\xff\xfe\xfd").decode(),
        "x" * 201,
        "\x00",
    ],
)
@pytest.mark.parametrize("path", [path for path, _make in LISTS])
def test_an_invalid_cursor_is_422_naming_cursor(client, admin_headers, path, cursor):
    OfferFactory()
    response = client.get(path, query_string={"cursor": cursor}, headers=admin_headers)
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == ["cursor"]


def test_a_cursor_survives_new_rows_arriving_between_pages(client, admin_headers):
    first = _make_offers(4)
    page = client.get("/api/v1/offers", query_string={"limit": 2}, headers=admin_headers).get_json()
    _make_offers(3)  # newer rows must not shift the next page
    rest = client.get(
        "/api/v1/offers",
        query_string={"limit": 10, "cursor": page["next_cursor"]},
        headers=admin_headers,
    ).get_json()
    assert [item["id"] for item in rest["items"]] == [first[1].id, first[0].id]


# OpenAPI and health ------------------------------------------------------------------------


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_openapi_json_is_public_and_an_openapi_3_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    assert document["paths"]


def test_openapi_json_covers_every_api_route_in_the_url_map(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) > 15
    missing = [
        (rule, method)
        for rule, method in routes
        if method.lower() not in document["paths"].get(_openapi_path(rule), {})
    ]
    assert missing == []


def test_openapi_documents_no_route_that_does_not_exist(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    served = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented <= served


def test_openapi_documents_errors_as_problem_json(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/offers"]["post"]
    for status in ("400", "401", "403", "422"):
        assert PROBLEM in operation["responses"][status]["content"]
    assert "201" in operation["responses"]
    assert "requestBody" in operation


def test_openapi_documents_money_as_a_string(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schema = document["components"]["schemas"]["OfferOut"]["properties"]["target_cac"]
    kinds = {option.get("type") for option in schema.get("anyOf", [schema])}
    assert "string" in kinds and "number" not in kinds


def test_healthz_answers_ok_without_a_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
