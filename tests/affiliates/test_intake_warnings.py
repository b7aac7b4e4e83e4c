"""An optional field never costs a sale: the intake drops what it cannot use, names it in
`warnings`, records it on the conversion, and attributes the sale without it."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from affiliates.models import Conversion
from affiliates.validation import ConversionCreate
from affiliates.validation.models import OPTIONAL_FIELDS
from tests.factories import OfferFactory, PartnerFactory
from tests.helpers import T0, iso

pytestmark = pytest.mark.usefixtures("clock")
_orders = itertools.count()


def post(client, headers, **body):
    return client.post("/api/v1/conversions", json=body, headers=headers)


def good(offer, **fields):
    """A sale whose required fields are good, with `fields` added."""
    return {"offer_id": offer.id, "order_id": f"W-{next(_orders)}", "amount": "1000.00", **fields}


def stored(session, conversion_id) -> Conversion:
    session.expire_all()
    conversion = session.get(Conversion, conversion_id)
    assert conversion is not None
    return conversion


@pytest.mark.parametrize("email", ["john@corp.local", "a@b", "x@shop.test", "not-an-email", 5])
def test_an_undeliverable_customer_email_is_dropped_and_the_sale_attributed_without_it(
    client, session, conversions_headers, admin_headers, email
):
    offer = OfferFactory()
    partner = PartnerFactory(status="active")
    body = good(offer, customer_email=email, utm_source=partner.ref_code)
    response = post(client, conversions_headers, **body)
    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    assert (answer["partner_id"], answer["attribution"]) == (partner.id, "utm")
    (warning,) = answer["warnings"]
    assert (warning["field"], warning["code"]) == ("customer_email", "dropped")
    assert warning["message"]
    # recorded, so staff see it later, and the conversion's page shows it
    assert stored(session, answer["id"]).warnings == answer["warnings"]
    shown = client.get(f"/api/v1/conversions/{answer['id']}", headers=admin_headers)
    assert shown.get_json()["warnings"] == answer["warnings"]
    # the dropped email made no customer: nothing of it is kept
    assert stored(session, answer["id"]).customer_key is None


# Each optional field with a value the intake cannot use.
UNUSABLE = [
    ("customer_id", "c" * 201),
    ("customer_id", ["a list"]),
    ("customer_id", "c\x00"),
    ("customer_email", "x" * 400 + "@example.com"),
    ("click_id", "k" * 65),
    ("click_id", {"an": "object"}),
    ("promo_code", "NO SPACES!"),
    ("promo_code", "P" * 65),
    ("promo_code", "ab"),
    ("utm_source", ""),
    ("utm_source", "u" * 201),
    ("utm_campaign", 42),
    ("occurred_at", "yesterday"),
    ("occurred_at", "1969-12-31T23:59:59Z"),
    ("occurred_at", "2026-03-10T13:00:00Z"),  # an hour after the server's now (T0)
    ("new_customer", "maybe"),
    ("items", [{"sku": "a", "quantity": 1, "amount": "2000.00"}]),  # more than the amount
    ("items", [{"sku": "", "amount": "1.00"}]),
    ("items", [{"sku": "a", "amount": "1.00", "colour": "red"}]),
    ("items", "not a list"),
]


@pytest.mark.parametrize(("field", "value"), UNUSABLE, ids=[f"{f}={v!r:.20}" for f, v in UNUSABLE])
def test_every_optional_field_that_cannot_be_used_is_dropped_and_named(
    client, session, conversions_headers, field, value
):
    offer = OfferFactory()
    response = post(client, conversions_headers, **good(offer, **{field: value}))
    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    assert [(w["field"], w["code"]) for w in answer["warnings"]] == [(field, "dropped")]
    conversion = stored(session, answer["id"])
    assert [w["field"] for w in conversion.warnings] == [field]
    assert conversion.items is None and conversion.utm_campaign is None


def test_a_timestamp_that_cannot_be_used_gives_the_servers_time_and_a_warning(
    client, session, conversions_headers
):
    offer = OfferFactory(hold_days=7)
    future = iso(T0 + dt.timedelta(hours=1))
    answer = post(client, conversions_headers, **good(offer, occurred_at=future)).get_json()
    assert answer["occurred_at"] == iso(T0)
    assert answer["hold_until"] == iso(T0 + dt.timedelta(days=7))
    (warning,) = answer["warnings"]
    assert warning["field"] == "occurred_at" and "server" in warning["message"]


def test_a_sale_with_good_fields_has_no_warnings(client, conversions_headers):
    offer = OfferFactory()
    answer = post(client, conversions_headers,
                  **good(offer, customer_email="buyer@example.com")).get_json()  # fmt: skip
    assert answer["warnings"] == []


def test_several_unusable_fields_are_each_named_and_the_good_ones_kept(
    client, session, conversions_headers
):
    offer = OfferFactory()
    body = good(offer, customer_email="a@b", promo_code="??", customer_id="keep-me",
                utm_campaign="spring")  # fmt: skip
    answer = post(client, conversions_headers, **body).get_json()
    assert sorted(w["field"] for w in answer["warnings"]) == ["customer_email", "promo_code"]
    conversion = stored(session, answer["id"])
    assert conversion.utm_campaign == "spring" and conversion.customer_key is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": None}, "amount"),
        ({"order_id": "A\x00B"}, "order_id"),
        ({"currency": "XXZ"}, "currency"),
        ({"type": "refund"}, "type"),
        ({"offer_id": "one"}, "offer_id"),
    ],
)
def test_required_fields_stay_strict_also_beside_a_dropped_optional_one(
    client, session, conversions_headers, change, field
):
    offer = OfferFactory()
    response = post(client, conversions_headers, **{**good(offer, customer_email="a@b"), **change})
    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == [field]
    assert session.scalars(select(Conversion)).first() is None


def test_a_bad_promo_code_on_the_pixel_is_dropped_and_the_sale_recorded(client, session):
    offer = OfferFactory(pixel="on")
    query = {"offer_id": offer.id, "order_id": "P-1", "amount": "10.00", "promo_code": "no way!"}
    response = client.get("/p/conversion.gif", query_string=query)
    assert response.status_code == 200
    (conversion,) = session.scalars(select(Conversion)).all()
    assert [w["field"] for w in conversion.warnings] == ["promo_code"]


def test_partner_emails_stay_strict(client, admin_headers):
    response = client.post("/api/v1/partners", json={"name": "Blog", "email": "john@corp.local"},
                           headers=admin_headers)  # fmt: skip
    assert response.status_code == 422


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
)
garbage = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(optional=st.dictionaries(st.sampled_from(OPTIONAL_FIELDS), garbage, max_size=5))
def test_a_sale_whose_required_fields_are_good_is_never_refused_over_an_optional_one(
    client, session, conversions_headers, optional
):
    offer = OfferFactory()
    body = good(offer, **optional)
    raw = json.dumps(body)
    response = client.post("/api/v1/conversions", data=raw, headers=conversions_headers,
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    assert session.get(Conversion, answer["id"]) is not None
    named = {warning["field"] for warning in answer["warnings"]}
    assert named <= set(optional)


def test_the_published_schema_says_an_optional_field_takes_any_value_and_a_required_one_not():
    properties = ConversionCreate.model_json_schema()["properties"]
    for name in OPTIONAL_FIELDS:
        usable, anything = properties[name]["anyOf"]
        assert usable and set(anything) == {"description"}  # no constraint: any value
        assert "warnings" in properties[name]["description"]
    for name in ("offer_id", "order_id", "amount", "currency", "type"):
        assert "warnings" not in properties[name].get("description", "")
