"""A schema tools can trust: the OpenAPI document is valid OpenAPI 3.1, states its bounds in
JSON Schema's own words, says which PATCH fields may be null, documents every status each
route can answer, and publishes exactly the money, ids and cursors the API accepts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from affiliates import validation
from affiliates.api.core import ENDPOINTS
from affiliates.validation import MAX_ID, checks

PYDANTIC_WORDS = {"ge", "le", "gt", "lt", "decimal_places", "max_digits", "multiple_of",
                  "allow_inf_nan", "strict", "min_length", "max_length"}  # fmt: skip
SCHEMA_HOLDERS = {"properties", "$defs", "schemas"}  # their keys are names, not keywords


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def _keywords(node, inside_names=False):
    """Every keyword used in the document's schemas (not the names of properties)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_names:
                yield key
            yield from _keywords(value, inside_names=key in SCHEMA_HOLDERS and not inside_names)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


def _operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)  # raises on any error


def test_bounds_are_in_json_schemas_words_not_pydantics(document):
    assert set(_keywords(document["components"])) & PYDANTIC_WORDS == set()
    for _path, _method, operation in _operations(document):
        assert set(_keywords(operation)) & PYDANTIC_WORDS == set()
    offer = document["components"]["schemas"]["OfferCreate"]["properties"]
    assert (offer["hold_days"]["minimum"], offer["hold_days"]["maximum"]) == (0, 3650)
    assert offer["name"]["maxLength"] == 200


def test_a_path_id_is_bounded_by_its_column(document):
    params = document["paths"]["/api/v1/offers/{offer_id}"]["get"]["parameters"]
    assert params[0]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def test_a_query_parameter_is_never_null(document):
    for _path, _method, operation in _operations(document):
        for param in operation.get("parameters", []):
            branches = [param["schema"], *param["schema"].get("anyOf", [])]
            assert {"type": "null"} not in branches, param


@pytest.mark.parametrize(
    ("model", "nullable", "not_null"),
    [
        ("OfferUpdate", ["target_cac", "max_discount_percent"], ["name", "hold_days", "status"]),
        ("PartnerUpdate", [], ["name", "email", "status", "password"]),
        ("LinkUpdate", ["utm_source", "sub_id"], ["archived"]),
        ("PromoCodeUpdate", ["max_uses", "valid_until"], ["active"]),
        ("RuleUpdate", ["offer_id", "cap", "ends_at"], ["type", "kind", "value", "priority"]),
    ],
)
def test_a_patch_body_says_which_fields_may_be_null(document, model, nullable, not_null):
    properties = document["components"]["schemas"][model]["properties"]

    def allows_null(prop):
        return {"type": "null"} in [prop, *prop.get("anyOf", [])]

    assert [name for name in nullable if not allows_null(properties[name])] == []
    assert [name for name in not_null if allows_null(properties[name])] == []
    assert [name for name in not_null if "default" in properties[name]] == []


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/conversions/{conversion_id}/approve", "post"),
        ("/api/v1/conversions/{conversion_id}/reject", "post"),
        ("/api/v1/conversions/{conversion_id}/refund", "post"),
        ("/api/v1/payouts/{payout_id}/mark-paid", "post"),
        ("/api/v1/payouts/{payout_id}/mark-failed", "post"),
        ("/api/v1/partners", "post"),
        ("/api/v1/partners/{partner_id}", "patch"),
        ("/api/v1/conversions", "post"),
        ("/api/v1/promo-codes", "post"),
    ],
)
def test_a_conflict_is_documented_where_one_can_happen(document, path, method):
    assert "409" in document["paths"][path][method]["responses"]


def test_every_route_documents_the_errors_it_can_answer(document):
    missing = []
    for path, method, operation in _operations(document):
        if path.endswith("/openapi.json"):
            continue
        codes = set(operation["responses"])
        expected = {"401", "403", "503"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"400", "413", "422"}
        if operation.get("parameters") and any(p["in"] == "query" for p in operation["parameters"]):
            expected.add("422")
        missing += [(method, path, code) for code in expected - codes]
    assert missing == []


def test_the_intakes_repeat_is_a_documented_success_not_an_error(document):
    responses = document["paths"]["/api/v1/conversions"]["post"]["responses"]
    assert "application/json" in responses["200"]["content"]


def test_every_endpoint_is_in_the_document(document):
    documented = {(path, method) for path, method, _op in _operations(document)}
    for ep in ENDPOINTS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", "/api/v1" + ep.rule)
        assert (path, ep.method.lower()) in documented


# The document publishes exactly what is accepted ------------------------------------------

MONEY_CASES = [
    (checks.MONEY, validation.money),
    (checks.POSITIVE_MONEY, validation.positive_money),
    (checks.SIGNED_MONEY, validation.signed_money),
    (checks.PERCENT, validation.percent),
]
money_like = st.one_of(
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,3})?", fullmatch=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.text(alphabet="0123456789.-e_ \u0661", max_size=16),
)


@pytest.mark.parametrize(("pattern", "check"), MONEY_CASES)
@given(text=money_like)
def test_a_money_pattern_matches_exactly_the_text_accepted(pattern, check, text):
    try:
        check(text)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == bool(re.fullmatch(pattern, text)), text


@given(number=st.integers(min_value=-(10**12), max_value=10**13))
def test_the_id_pattern_matches_exactly_the_ids_that_fit_the_column(number):
    assert bool(re.fullmatch(validation.ID_TEXT, str(number))) == (1 <= number <= MAX_ID)


def test_the_money_bounds_in_the_document_are_the_checks(document):
    target = document["components"]["schemas"]["OfferCreate"]["properties"]["target_cac"]
    money = [branch for branch in target["anyOf"] if branch.get("anyOf")][0]["anyOf"]
    assert money[0] == {"type": "string", "pattern": checks.MONEY}
    assert money[1]["maximum"] == int(validation.MAX_MONEY)
    assert validation.money(Decimal(money[1]["maximum"])) == validation.MAX_MONEY
