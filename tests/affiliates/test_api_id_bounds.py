"""No id from outside (path, query, cursor, body) reaches the database beyond its column's
range: no 5xx on either database. Out of range is 404 in a path, 422 naming the field in a
query, a cursor or a body. Every list route and every `{id}` route in the URL map is walked
with the boundaries."""

from __future__ import annotations

import re

import pytest

from affiliates.api.core import ENDPOINTS
from affiliates.validation import MAX_ID
from tests.affiliates.test_api_hostile_input import assert_sane, error_fields
from tests.factories import OfferFactory, PartnerFactory

BOUNDARIES = [0, -1, MAX_ID, MAX_ID + 1, 2**63, 10**30]
OUT_OF_RANGE = [value for value in BOUNDARIES if not 1 <= value <= MAX_ID]
_INT_PARAM = re.compile(r"<int:(\w+)>")


def _id_routes(app) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if _INT_PARAM.search(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def _lists() -> list[tuple[str, list[str]]]:
    """Every GET route with a query model, and the query's integer fields (by their name in
    the query string), the cursor among them when it pages."""
    routes = []
    for ep in ENDPOINTS:
        if ep.method != "GET" or ep.query is None or "<" in ep.rule:
            continue
        schema = ep.query.model_json_schema()["properties"]
        names = [
            name
            for name, prop in schema.items()
            if "integer" in {branch.get("type") for branch in [prop, *prop.get("anyOf", [])]}
            and name != "limit"  # a page size, not an id: its own tests
        ]
        if "cursor" in schema:
            names.append("cursor")
        routes.append(("/api/v1" + ep.rule, names))
    return routes


def test_the_walk_covers_every_id_route_and_every_list(app):
    assert len(_id_routes(app)) >= 20
    lists = dict(_lists())
    assert len(lists) >= 10
    assert "partner_id" in lists["/api/v1/conversions"]
    assert "cursor" in lists["/api/v1/offers"]


@pytest.mark.parametrize("value", BOUNDARIES)
def test_an_id_route_answers_a_boundary_id_with_404_never_a_5xx(client, app, admin_headers,
                                                                value):  # fmt: skip
    answers = {}
    for rule, method in _id_routes(app):
        path = _INT_PARAM.sub(str(value), rule)
        response = assert_sane(client.open(path, method=method, json={}, headers=admin_headers))
        answers[(method, rule)] = response.status_code
    if value in OUT_OF_RANGE:
        assert set(answers.values()) == {404}, answers
    else:  # in range, yet no such object: 404, or 422 for the body checked first
        assert set(answers.values()) <= {404, 422}, answers


@pytest.mark.parametrize("value", BOUNDARIES)
def test_a_list_answers_a_boundary_id_in_its_query_without_a_5xx(client, admin_headers, value):
    OfferFactory()
    PartnerFactory()
    for path, names in _lists():
        for name in names:
            response = client.get(path, query_string={name: str(value)}, headers=admin_headers)
            if value in OUT_OF_RANGE:
                assert error_fields(response) == [name], (path, name)
            else:
                assert assert_sane(response).status_code == 200, (path, name)


@pytest.mark.parametrize("path", [path for path, names in _lists() if "cursor" in names])
def test_an_empty_cursor_is_422_naming_cursor(client, admin_headers, path):
    response = client.get(path + "?cursor=", headers=admin_headers)
    assert error_fields(response) == ["cursor"]


def test_a_cursor_past_the_id_column_is_422_not_a_database_error(client, admin_headers):
    # the example: a cursor above 2^31-1 crashed every list on PostgreSQL
    for cursor in ("2147483648", "9223372036854775808", "1" + "0" * 30):
        response = client.get("/api/v1/conversions", query_string={"cursor": cursor},
                              headers=admin_headers)  # fmt: skip
        assert error_fields(response) == ["cursor"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/links", "offer_id"),
        ("/api/v1/links", "partner_id"),
        ("/api/v1/conversions", "offer_id"),
        ("/api/v1/commission-rules", "offer_id"),
        ("/api/v1/commission-rules/preview", "partner_id"),
        ("/api/v1/promo-codes", "offer_id"),
    ],
)
def test_a_body_id_out_of_range_is_422_naming_it(client, admin_headers, value, path, field):
    offer = OfferFactory()
    partner = PartnerFactory()
    body = {
        "/api/v1/links": {"partner_id": partner.id, "offer_id": offer.id},
        "/api/v1/conversions": {"offer_id": offer.id, "order_id": "A-1", "amount": "10.00"},
        "/api/v1/commission-rules": {"type": "sale", "kind": "fixed", "value": "10.00"},
        "/api/v1/commission-rules/preview": {"offer_id": offer.id, "partner_id": partner.id},
        "/api/v1/promo-codes": {"code": "SAVE10", "partner_id": partner.id, "offer_id": offer.id,
                                "discount_type": "amount", "discount_value": "10.00"},
    }[path] | {field: value}  # fmt: skip
    assert field in error_fields(client.post(path, json=body, headers=admin_headers))


@pytest.mark.parametrize("value", BOUNDARIES)
def test_the_pixel_answers_a_boundary_offer_id_with_its_gif(client, value):
    response = client.get(f"/p/conversion.gif?offer_id={value}&order_id=P-1&amount=10.00")
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
