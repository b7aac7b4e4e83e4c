"""POST/GET /api/v1/conversions: the contract's body, idempotency, attribution and flags."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from affiliates.models import AuditEntry, Conversion, CustomerBinding, Link, PromoCode
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import BROWSER_AGENT, T0, add_click, iso, sale

BROWSER = {"User-Agent": BROWSER_AGENT}
_ids = itertools.count()
pytestmark = pytest.mark.usefixtures("clock")


def post(client, headers, **body):
    return client.post("/api/v1/conversions", json=body, headers=headers)


def fresh(session, model, ident):
    """The row as the database has it now (the test shares its session with the requests)."""
    session.expire_all()
    return session.get(model, ident)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# The answer ------------------------------------------------------------------------------


def test_a_new_sale_answers_201_with_the_contract_body(client, session, conversions_headers):
    offer = OfferFactory(hold_days=14)
    link = LinkFactory(offer=offer)
    click_id = add_click(session, link, T0 - dt.timedelta(hours=1))
    response = post(client, conversions_headers, offer_id=offer.id, type="sale",
                    order_id="A-1", amount="1499.00", click_id=click_id)  # fmt: skip
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    expected = {
        "offer_id": offer.id,
        "type": "sale",
        "order_id": "A-1",
        "amount": "1499.00",
        "currency": "RUB",
        "status": "pending",
        "partner_id": link.partner_id,
        "attribution": "click",
        "commission": "0.00",
        "rule_id": None,
        "hold_until": iso(T0 + dt.timedelta(days=14)),
        "reason": None,
        "flags": [],
    }
    assert {key: body[key] for key in expected} == expected


def test_money_is_a_two_place_decimal_string_whatever_the_json_number(client, conversions_headers):
    offer = OfferFactory()
    body = sale(client, conversions_headers, offer, amount=1499.5)
    assert body["amount"] == "1499.50"
    assert body["commission"] == "0.00"


def test_hold_until_is_occurred_at_plus_the_offers_hold_days(client, conversions_headers):
    offer = OfferFactory(hold_days=30)
    occurred = T0 - dt.timedelta(days=3, hours=2)
    body = sale(client, conversions_headers, offer, occurred_at=iso(occurred))
    assert body["occurred_at"] == iso(occurred)
    assert body["hold_until"] == iso(occurred + dt.timedelta(days=30))


def test_a_lead_needs_no_amount_and_a_sale_does(client, conversions_headers):
    offer = OfferFactory()
    lead = post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="L-1")
    assert lead.status_code == 201
    assert lead.get_json()["amount"] == "0.00"
    body = problem(post(client, conversions_headers, offer_id=offer.id, order_id="S-1"), 422)
    assert body["errors"]


# Idempotency -----------------------------------------------------------------------------


def test_the_same_order_again_answers_200_with_the_same_body_and_records_nothing_new(
    client, session, conversions_headers
):
    offer = OfferFactory()
    link = LinkFactory(offer=offer)
    click_id = add_click(session, link, T0 - dt.timedelta(hours=1))
    first = post(client, conversions_headers, offer_id=offer.id, order_id="A-1",
                 amount="1499.00", click_id=click_id, customer_id="cust-1")  # fmt: skip
    assert first.status_code == 201
    counts = (count(session, Conversion), count(session, AuditEntry),
              count(session, CustomerBinding))  # fmt: skip
    again = post(client, conversions_headers, offer_id=offer.id, order_id="A-1",
                 amount="1499.00", click_id=click_id, customer_id="cust-1")  # fmt: skip
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert "click_reused" not in again.get_json()["flags"]
    assert (count(session, Conversion), count(session, AuditEntry),
            count(session, CustomerBinding)) == counts == (1, 1, 1)  # fmt: skip


def test_the_same_order_with_a_different_amount_is_a_409_problem(
    client, session, conversions_headers
):
    offer = OfferFactory()
    sale(client, conversions_headers, offer, amount="1499.00")
    body = problem(post(client, conversions_headers, offer_id=offer.id, order_id="A-1",
                        amount="1500.00"), 409)  # fmt: skip
    assert body["errors"][0]["field"] == "amount"
    assert count(session, Conversion) == 1
    assert session.scalar(select(Conversion.amount)) == pytest.approx(1499)


def test_a_repeat_of_a_promo_code_order_does_not_use_the_code_twice(
    client, session, conversions_headers
):
    offer = OfferFactory()
    code = PromoCodeFactory(offer=offer, code="SPRING", max_uses=5)
    for expect in (201, 200, 200):  # the repeats answer 200 with the first answer
        sale(client, conversions_headers, offer, promo_code="SPRING", expect=expect)
    assert fresh(session, PromoCode, code.id).uses == 1


def test_the_order_key_is_offer_type_and_order_id(client, session, conversions_headers):
    offer, other = OfferFactory(), OfferFactory()
    assert post(client, conversions_headers, offer_id=offer.id, type="lead",
                order_id="X").status_code == 201  # fmt: skip
    assert sale(client, conversions_headers, offer, order_id="X")["type"] == "sale"
    assert sale(client, conversions_headers, other, order_id="X")["offer_id"] == other.id
    assert count(session, Conversion) == 3


# Attribution -----------------------------------------------------------------------------


def test_promo_code_beats_click_under_default_priority(client, session, conversions_headers):
    offer = OfferFactory()
    link = LinkFactory(offer=offer)
    code = PromoCodeFactory(offer=offer, code="BLOGGER10")
    click_id = add_click(session, link, T0 - dt.timedelta(hours=1))
    body = sale(client, conversions_headers, offer, click_id=click_id, promo_code="blogger10")
    assert body["attribution"] == "promo_code"
    assert body["partner_id"] == code.partner_id != link.partner_id
    assert fresh(session, PromoCode, code.id).uses == 1


@pytest.mark.parametrize("first", ["promo_code", "click", "utm", "customer"])
def test_the_offers_attribution_priority_decides_between_touches(
    client, session, conversions_headers, first
):
    methods = ["promo_code", "click", "utm", "customer"]
    offer = OfferFactory(attribution_priority=[first, *(m for m in methods if m != first)])
    by_code, by_click, by_ref, by_customer = (PartnerFactory() for _ in range(4))
    PromoCodeFactory(offer=offer, partner=by_code, code="CODE-P")
    click_id = add_click(session, LinkFactory(offer=offer, partner=by_click),
                         T0 - dt.timedelta(hours=2))  # fmt: skip
    # An earlier lead binds the customer to the fourth partner.
    post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="lead-1",
         customer_id="cust-9", utm_source=by_customer.ref_code,
         occurred_at=iso(T0 - dt.timedelta(days=1)))  # fmt: skip
    body = sale(client, conversions_headers, offer, promo_code="CODE-P", click_id=click_id,
                utm_source=by_ref.ref_code, customer_id="cust-9")  # fmt: skip
    winners = {"promo_code": by_code, "click": by_click, "utm": by_ref, "customer": by_customer}
    assert (body["attribution"], body["partner_id"]) == (first, winners[first].id)


def test_a_click_outside_the_attribution_window_is_not_used(client, session, conversions_headers):
    offer = OfferFactory(attribution_window_days=7)
    link = LinkFactory(offer=offer)
    old = add_click(session, link, T0 - dt.timedelta(days=7, seconds=1))
    inside = add_click(session, link, T0 - dt.timedelta(days=6, hours=23))
    body = sale(client, conversions_headers, offer, order_id="old", click_id=old)
    assert (body["partner_id"], body["attribution"]) == (None, None)
    assert any("older than the 7-day window" in line for line in body["explanation"])
    assert (
        sale(client, conversions_headers, offer, order_id="in", click_id=inside)["attribution"]
        == "click"
    )


def test_a_click_made_after_the_conversion_is_not_used(client, session, conversions_headers):
    offer = OfferFactory()
    click_id = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(hours=1))
    body = sale(client, conversions_headers, offer, click_id=click_id,
                occurred_at=iso(T0 - dt.timedelta(hours=2)))  # fmt: skip
    assert body["partner_id"] is None
    assert any("came after the conversion" in line for line in body["explanation"])


def test_a_click_on_another_offer_or_unknown_is_not_used(client, session, conversions_headers):
    offer = OfferFactory()
    elsewhere = add_click(session, LinkFactory(), T0 - dt.timedelta(hours=1))
    assert (
        sale(client, conversions_headers, offer, order_id="1", click_id=elsewhere)["partner_id"]
        is None
    )
    assert (
        sale(client, conversions_headers, offer, order_id="2", click_id="no-such-click")[
            "partner_id"
        ]
        is None
    )


def test_bot_clicks_archived_links_and_suspended_partners_never_win(
    client, session, conversions_headers
):
    offer = OfferFactory()
    bot = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(hours=1), bot=True)
    archived_link = LinkFactory(offer=offer)
    archived = add_click(session, archived_link, T0 - dt.timedelta(hours=1))
    session.get(Link, archived_link.id).archived_at = T0 - dt.timedelta(minutes=30)
    session.commit()
    suspended = PartnerFactory(status="suspended")
    unattributable = add_click(session, LinkFactory(offer=offer, partner=suspended),
                               T0 - dt.timedelta(hours=1), attributable=False)  # fmt: skip
    for n, click_id in enumerate((bot, archived, unattributable)):
        body = sale(client, conversions_headers, offer, order_id=f"o{n}", click_id=click_id)
        assert (body["partner_id"], body["attribution"]) == (None, None), body["explanation"]


def test_a_click_from_the_real_redirector_attributes_the_sale(client, session, conversions_headers):
    offer = OfferFactory()
    link = LinkFactory(offer=offer)
    response = client.get(f"/r/{link.code}", headers=BROWSER)
    click_id = parse_qs(urlsplit(response.headers["Location"]).query)["aff_click_id"][0]
    body = sale(client, conversions_headers, offer, click_id=click_id)
    assert (body["partner_id"], body["attribution"]) == (link.partner_id, "click")


def test_utm_source_equal_to_a_ref_code_attributes_the_conversion(client, conversions_headers):
    offer = OfferFactory()
    partner = PartnerFactory(ref_code="anna")
    body = sale(client, conversions_headers, offer, order_id="1", utm_source="anna")
    assert (body["partner_id"], body["attribution"]) == (partner.id, "utm")
    unknown = sale(client, conversions_headers, offer, order_id="2", utm_source="nobody")
    assert (unknown["partner_id"], unknown["attribution"]) == (None, None)


def test_a_lead_binds_the_customer_and_a_later_sale_follows_it(
    client, session, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory()
    lead = post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="L-1",
                customer_id="cust-1", utm_source=partner.ref_code,
                occurred_at=iso(T0 - dt.timedelta(days=200)))  # fmt: skip
    assert lead.get_json()["partner_id"] == partner.id
    body = sale(client, conversions_headers, offer, customer_id="cust-1")
    assert (body["partner_id"], body["attribution"]) == (partner.id, "customer")
    stranger = sale(client, conversions_headers, offer, order_id="A-2", customer_id="cust-2")
    assert stranger["partner_id"] is None


def test_a_customer_binding_by_email_ignores_letter_case(client, conversions_headers):
    offer = OfferFactory()
    partner = PartnerFactory()
    post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="L-1",
         customer_email="Buyer@Example.com", utm_source=partner.ref_code,
         occurred_at=iso(T0 - dt.timedelta(days=1)))  # fmt: skip
    body = sale(client, conversions_headers, offer, customer_email="buyer@example.com")
    assert (body["partner_id"], body["attribution"]) == (partner.id, "customer")


def test_a_customer_binding_lapses_after_365_days(client, conversions_headers):
    offer = OfferFactory()
    partner = PartnerFactory()
    post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="L-1",
         customer_id="cust-1", utm_source=partner.ref_code,
         occurred_at=iso(T0 - dt.timedelta(days=366)))  # fmt: skip
    body = sale(client, conversions_headers, offer, customer_id="cust-1")
    assert body["partner_id"] is None
    assert any("older than 365 days" in line for line in body["explanation"])


def test_no_match_is_recorded_as_organic_with_partner_id_null(client, session, conversions_headers):
    offer = OfferFactory()
    body = sale(client, conversions_headers, offer, customer_id="someone")
    assert body["status"] == "pending"
    assert (body["partner_id"], body["attribution"], body["flags"]) == (None, None, [])
    assert body["explanation"][-2] == "no method matched: organic"
    assert count(session, Conversion) == 1
    assert count(session, CustomerBinding) == 0


def test_a_partner_buying_through_its_own_code_is_rejected_as_self_referral(
    client, session, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory(email="blogger@example.com")
    code = PromoCodeFactory(offer=offer, partner=partner, code="SELF10")
    body = sale(client, conversions_headers, offer, promo_code="SELF10",
                customer_email="Blogger@Example.com", customer_id="me")  # fmt: skip
    assert (body["status"], body["reason"], body["partner_id"]) == (
        "rejected", "self_referral", partner.id)  # fmt: skip
    assert body["commission"] == "0.00"
    assert fresh(session, PromoCode, code.id).uses == 0  # a rejected order takes no use
    assert count(session, CustomerBinding) == 0


def test_an_exhausted_promo_code_falls_through_to_the_next_method_and_says_why(
    client, session, conversions_headers
):
    offer = OfferFactory()
    PromoCodeFactory(offer=offer, code="ONCE", max_uses=1, uses=1)
    ref = PartnerFactory()
    body = sale(client, conversions_headers, offer, promo_code="ONCE", utm_source=ref.ref_code)
    assert (body["partner_id"], body["attribution"]) == (ref.id, "utm")
    assert any("exhausted" in line for line in body["explanation"])


# Fraud signals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "minimum", "flagged"),
    [(5, 10, True), (9, 10, True), (10, 10, False), (60, 10, False), (1, 0, False), (20, 30, True)],
)
def test_a_conversion_sooner_after_its_click_than_the_offers_minimum_is_flagged_too_fast(
    client, session, conversions_headers, seconds, minimum, flagged
):
    offer = OfferFactory(min_click_to_conversion_seconds=minimum)
    link = LinkFactory(offer=offer)
    click_id = add_click(session, link, T0 - dt.timedelta(seconds=seconds))
    body = sale(client, conversions_headers, offer, click_id=click_id)
    assert body["flags"] == (["too_fast"] if flagged else [])
    assert body["partner_id"] == link.partner_id  # held for review, not silently dropped
    assert body["status"] == "pending"


def test_the_default_minimum_is_ten_seconds_as_the_api_creates_offers(
    client, session, admin_headers, conversions_headers
):
    offer = {"name": "Shop", "destination_url": "https://shop.example.com/"}
    response = client.post("/api/v1/offers", headers=admin_headers, json=offer)
    assert response.status_code == 201
    assert response.get_json()["min_click_to_conversion_seconds"] == 10
    offer_id = response.get_json()["id"]
    link = LinkFactory(offer_id=offer_id, partner=PartnerFactory())
    click_id = add_click(session, link, T0 - dt.timedelta(seconds=9))
    body = post(client, conversions_headers, offer_id=offer_id, order_id="1", amount="10.00",
                click_id=click_id).get_json()  # fmt: skip
    assert body["flags"] == ["too_fast"]


def test_a_click_id_claimed_by_a_second_order_is_flagged_click_reused(
    client, session, conversions_headers
):
    offer = OfferFactory()
    click_id = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(hours=1))
    first = sale(client, conversions_headers, offer, order_id="1", click_id=click_id)
    second = sale(client, conversions_headers, offer, order_id="2", click_id=click_id)
    assert first["flags"] == []
    assert second["flags"] == ["click_reused"]
    assert second["status"] == "pending"
    created = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == second["id"])).one()
    assert created.after["flags"] == ["click_reused"]


def test_a_code_without_a_click_from_its_partner_is_flagged_when_the_offer_asks(
    client, session, conversions_headers
):
    offer = OfferFactory(require_click_for_code=True)
    partner = PartnerFactory()
    PromoCodeFactory(offer=offer, partner=partner, code="ASKS")
    alone = sale(client, conversions_headers, offer, order_id="1", promo_code="ASKS")
    assert (alone["attribution"], alone["flags"]) == ("promo_code", ["code_without_click"])
    others = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(hours=1))
    foreign = sale(client, conversions_headers, offer, order_id="2", promo_code="ASKS",
                   click_id=others)  # fmt: skip
    assert foreign["flags"] == ["code_without_click"]
    own = add_click(session, LinkFactory(offer=offer, partner=partner),
                    T0 - dt.timedelta(hours=1))  # fmt: skip
    paired = sale(client, conversions_headers, offer, order_id="3", promo_code="ASKS",
                  click_id=own)  # fmt: skip
    assert paired["flags"] == []


def test_a_code_without_a_click_is_not_flagged_when_the_offer_does_not_ask(
    client, conversions_headers
):
    offer = OfferFactory()
    PromoCodeFactory(offer=offer, code="RELAXED")
    assert sale(client, conversions_headers, offer, promo_code="RELAXED")["flags"] == []


# Access ----------------------------------------------------------------------------------


def test_a_partner_key_reads_only_its_own_conversions(client, session, conversions_headers):
    offer = OfferFactory()
    mine, theirs = PartnerFactory(), PartnerFactory()
    own = sale(client, conversions_headers, offer, order_id="1", utm_source=mine.ref_code)
    other = sale(client, conversions_headers, offer, order_id="2", utm_source=theirs.ref_code)
    organic = sale(client, conversions_headers, offer, order_id="3")
    headers = bearer(partner_key(mine))
    listed = client.get("/api/v1/conversions", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [own["id"]]
    forced = client.get(f"/api/v1/conversions?partner_id={theirs.id}", headers=headers)
    assert [item["id"] for item in forced.get_json()["items"]] == [own["id"]]
    assert client.get(f"/api/v1/conversions/{own['id']}", headers=headers).status_code == 200
    for hidden in (other["id"], organic["id"], 10**9):
        problem(client.get(f"/api/v1/conversions/{hidden}", headers=headers), 404)


def test_a_partner_key_cannot_post_refund_approve_or_reject(client, conversions_headers):
    offer = OfferFactory()
    partner = PartnerFactory()
    body = sale(client, conversions_headers, offer, utm_source=partner.ref_code)
    headers = bearer(partner_key(partner))
    problem(post(client, headers, offer_id=offer.id, order_id="X", amount="1.00"), 403)
    for action, payload in (("refund", {}), ("approve", {}), ("reject", {"reason": "no"})):
        response = client.post(f"/api/v1/conversions/{body['id']}/{action}", json=payload,
                               headers=headers)  # fmt: skip
        problem(response, 403)


def test_a_conversions_key_cannot_approve_or_reject(client, session, conversions_headers):
    body = sale(client, conversions_headers, OfferFactory())
    for action, payload in (("approve", {}), ("reject", {"reason": "no"})):
        response = client.post(f"/api/v1/conversions/{body['id']}/{action}", json=payload,
                               headers=conversions_headers)  # fmt: skip
        problem(response, 403)
    assert fresh(session, Conversion, body["id"]).status == "pending"
    assert count(session, AuditEntry) == 1


def test_conversions_need_a_key(client):
    problem(client.post("/api/v1/conversions", json={}), 401)
    problem(client.get("/api/v1/conversions"), 401)
    problem(client.get("/api/v1/conversions", headers=bearer("aff_nope")), 401)


def test_the_list_filters_by_partner_status_and_period_newest_first(
    client, session, admin_headers, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory()
    old = sale(client, conversions_headers, offer, order_id="1", utm_source=partner.ref_code,
               occurred_at=iso(T0 - dt.timedelta(days=3)))  # fmt: skip
    new = sale(client, conversions_headers, offer, order_id="2", utm_source=partner.ref_code)
    organic = sale(client, conversions_headers, offer, order_id="3")
    client.post(f"/api/v1/conversions/{new['id']}/reject", json={"reason": "test"},
                headers=admin_headers)  # fmt: skip

    def ids(**query):
        response = client.get("/api/v1/conversions", query_string=query, headers=admin_headers)
        assert response.status_code == 200
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [organic["id"], new["id"], old["id"]]
    assert ids(partner_id=partner.id) == [new["id"], old["id"]]
    assert ids(status="rejected") == [new["id"]]
    assert ids(status="pending", partner_id=partner.id) == [old["id"]]
    assert ids(to=(T0 - dt.timedelta(days=1)).date().isoformat()) == [old["id"]]
    assert ids(**{"from": iso(T0 - dt.timedelta(hours=1))}) == [organic["id"], new["id"]]
    page = client.get("/api/v1/conversions?limit=2", headers=admin_headers).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"/api/v1/conversions?cursor={page['next_cursor']}",
                      headers=admin_headers).get_json()  # fmt: skip
    assert [item["id"] for item in rest["items"]] == [old["id"]]


# Input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "1e30"}, "amount"),
        ({"type": "refund"}, "type"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 201}, "order_id"),
        ({"currency": "XXZ"}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"offer_id": 10**9}, "offer_id"),
        ({"offer_id": "one"}, "offer_id"),
    ],
)
def test_invalid_conversions_are_422_problems_naming_the_field_and_change_nothing(
    client, session, conversions_headers, change, field
):
    offer = OfferFactory()
    body = {"offer_id": offer.id, "order_id": "A-1", "amount": "1499.00", **change}
    errors = problem(post(client, conversions_headers, **body), 422)["errors"]
    assert any(error["field"].startswith(field) or field == "body" for error in errors), errors
    assert count(session, Conversion) == 0


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"amount": NaN}', b"[" * 100_000, b'"text"'],
)
def test_malformed_bodies_are_400_problems(client, conversions_headers, raw):
    response = client.post("/api/v1/conversions", data=raw, headers=conversions_headers,
                           content_type="application/json")  # fmt: skip
    problem(response, 400)


def test_text_with_nul_characters_is_a_422_not_a_5xx(client, session, conversions_headers):
    offer = OfferFactory()
    response = post(client, conversions_headers, offer_id=offer.id, order_id="A\x00B",
                    amount="1.00", utm_source="a\x00b", customer_id="c\x00")  # fmt: skip
    problem(response, 422)
    assert count(session, Conversion) == 0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-le"])
def test_a_nul_is_found_in_any_json_encoding(client, session, conversions_headers, encoding):
    offer = OfferFactory()
    text = json.dumps({"offer_id": offer.id, "order_id": "A\u0000B", "amount": "1.00"})
    response = client.post("/api/v1/conversions", data=text.encode(encoding),
                           headers=conversions_headers,
                           content_type="application/json")  # fmt: skip
    assert problem(response, 422)["errors"] == [
        {"field": "order_id", "message": "Text may not contain NUL."}
    ]
    assert count(session, Conversion) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"type": "lead"},
        {"amount": "0.00", "currency": "rub", "utm_campaign": "spring"},
        {"amount": "150.50", "new_customer": True,
         "items": [{"sku": "A", "category": "books", "quantity": 2, "amount": "100.50"}]},
        {"amount": "99.99", "occurred_at": "2026-03-10T11:59:58Z", "click": True},
    ],
)  # fmt: skip
def test_the_201_body_is_the_conversion_as_stored(client, session, conversions_headers, body):
    offer = OfferFactory()
    partner = PartnerFactory()
    body = dict(body)
    if body.pop("click", False):
        body["click_id"] = add_click(
            session, LinkFactory(offer=offer), T0 - dt.timedelta(seconds=3)
        )
    else:
        body["utm_source"] = partner.ref_code
    created = post(client, conversions_headers, offer_id=offer.id, order_id=f"S-{next(_ids)}",
                   customer_id="cust-s", **body)  # fmt: skip
    assert created.status_code == 201
    stored = client.get(f"/api/v1/conversions/{created.get_json()['id']}",
                        headers=conversions_headers)  # fmt: skip
    assert stored.status_code == 200
    assert created.get_json() == stored.get_json()


@pytest.mark.parametrize("with_code", [False, True])
def test_a_lapsed_binding_passes_to_the_partner_of_the_next_attributed_order(
    client, session, conversions_headers, with_code
):
    offer = OfferFactory()
    first, second = PartnerFactory(), PartnerFactory()
    post(client, conversions_headers, offer_id=offer.id, type="lead", order_id="L-1",
         customer_id="cust-r", utm_source=first.ref_code,
         occurred_at=iso(T0 - dt.timedelta(days=366)))  # fmt: skip
    touch = {"utm_source": second.ref_code}
    if with_code:
        code = PromoCodeFactory(offer=offer, partner=second, max_uses=5)
        touch = {"promo_code": code.code}
    body = sale(client, conversions_headers, offer, order_id="S-1", customer_id="cust-r",
                **touch)  # fmt: skip
    assert body["partner_id"] == second.id
    session.expire_all()
    binding = session.scalars(select(CustomerBinding)).one()
    assert (binding.partner_id, binding.conversion_id) == (second.id, body["id"])
    assert binding.attributed_at == T0
    if with_code:
        assert session.get(PromoCode, code.id).uses == 1
    later = sale(client, conversions_headers, offer, order_id="S-2", customer_id="cust-r")
    assert (later["partner_id"], later["attribution"]) == (second.id, "customer")


def test_a_promo_code_order_without_a_customer_takes_one_use(client, session, conversions_headers):
    offer = OfferFactory()
    code = PromoCodeFactory(offer=offer, max_uses=2)
    body = sale(client, conversions_headers, offer, promo_code=code.code)
    assert (body["partner_id"], body["attribution"]) == (code.partner_id, "promo_code")
    again = sale(client, conversions_headers, offer, promo_code=code.code, expect=200)
    assert again == body  # a repeat takes no second use
    session.expire_all()
    assert session.get(PromoCode, code.id).uses == 1
    assert count(session, CustomerBinding) == 0
