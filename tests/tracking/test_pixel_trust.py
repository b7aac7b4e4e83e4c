"""How far an offer trusts its pixel: `off` records nothing, `review` (the default) holds a
pixel conversion for staff or for the server's postback of the same order, `on` trusts it."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import insert, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion, Offer
from affiliates.services import conversions as conversion_service
from affiliates.services import intake_store
from tests.factories import LinkFactory
from tests.helpers import BROWSER_AGENT, T0
from tracking.views import PIXEL

pytestmark = pytest.mark.usefixtures("clock")


def new_offer(client, admin_headers, **terms) -> dict:
    body = {"name": "Shop", "destination_url": "https://shop.example.com/", "hold_days": 7,
            **terms}  # fmt: skip
    response = client.post("/api/v1/offers", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def partner_link(session, offer_id: int):
    return LinkFactory(offer=session.get(Offer, offer_id))


def visit_and_buy(client, clock, link, order_id="P-1", amount="999999.00"):
    """The visitor follows the link, then the thank-you page fires the pixel."""
    response = client.get(f"/r/{link.code}", headers={"User-Agent": BROWSER_AGENT})
    assert response.status_code == 302
    clock.now += dt.timedelta(minutes=5)
    click_id = parse_qs(urlsplit(response.headers["Location"]).query)["aff_click_id"][0]
    pixel = client.get("/p/conversion.gif", query_string={
        "offer_id": link.offer_id, "order_id": order_id, "amount": amount})  # fmt: skip
    assert (pixel.status_code, pixel.data) == (200, PIXEL)
    return click_id


def the_conversion(session) -> Conversion:
    session.expire_all()
    (conversion,) = session.scalars(select(Conversion)).all()
    return conversion


def percent_rule(client, admin_headers, offer_id, value="10"):
    response = client.post("/api/v1/commission-rules", json={
        "offer_id": offer_id, "type": "sale", "kind": "percent", "value": value},
        headers=admin_headers)  # fmt: skip
    assert response.status_code == 201


def test_the_pixels_amount_is_never_trusted_by_default_a_pixel_conversion_waits_for_review_or_for_the_servers_postback_of_the_same_order(  # noqa: E501
    client, session, clock, admin_headers, conversions_headers
):
    offer = new_offer(client, admin_headers)
    assert offer["pixel"] == "review"
    percent_rule(client, admin_headers, offer["id"])
    link = partner_link(session, offer["id"])
    visit_and_buy(client, clock, link, amount="999999.00")
    pixel = the_conversion(session)
    assert (pixel.status, pixel.flags, pixel.partner_id) == (
        "pending", ["pixel_unverified"], link.partner_id)  # fmt: skip
    assert f"{pixel.commission}" == "99999.90"
    # not approved when its hold is over: it waits
    clock.now = T0 + dt.timedelta(days=30)
    assert conversion_service.approve_due(session, clock.now) == 0
    assert the_conversion(session).status == "pending"

    # the merchant's server reports the same order: its amount wins
    response = client.post("/api/v1/conversions", headers=conversions_headers, json={
        "offer_id": offer["id"], "order_id": "P-1", "amount": "1499.00"})  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert (answer["id"], answer["amount"], answer["commission"]) == (pixel.id, "1499.00", "149.90")
    assert (answer["flags"], answer["status"], answer["partner_id"]) == (
        [], "pending", link.partner_id)  # fmt: skip
    confirmed = the_conversion(session)
    assert (f"{confirmed.amount}", confirmed.flags, confirmed.pixel_unverified) == (
        "1499.00", [], False)  # fmt: skip
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "confirmed")).one()
    assert entry.entity_id == pixel.id
    assert (entry.before["amount"], entry.after["amount"]) == ("999999.00", "1499.00")
    assert (entry.before["flags"], entry.after["flags"]) == (["pixel_unverified"], [])
    assert (entry.before["commission"], entry.after["commission"]) == ("99999.90", "149.90")
    # now it is an ordinary conversion: approved when its hold is over
    assert conversion_service.approve_due(session, clock.now) == 1


def test_the_servers_postback_repeated_after_confirming_gets_the_same_answer_and_a_new_amount_409(
    client, session, clock, admin_headers, conversions_headers
):
    offer = new_offer(client, admin_headers)
    visit_and_buy(client, clock, partner_link(session, offer["id"]))
    body = {"offer_id": offer["id"], "order_id": "P-1", "amount": "1499.00"}
    first = client.post("/api/v1/conversions", headers=conversions_headers, json=body)
    again = client.post("/api/v1/conversions", headers=conversions_headers, json=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    other = client.post("/api/v1/conversions", headers=conversions_headers,
                        json={**body, "amount": "1.00"})  # fmt: skip
    assert other.status_code == 409
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "confirmed")).all()


def test_a_second_pixel_never_confirms_the_first(client, session, clock, admin_headers):
    offer = new_offer(client, admin_headers)
    link = partner_link(session, offer["id"])
    visit_and_buy(client, clock, link, amount="100.00")
    visit_and_buy(client, clock, link, amount="100.00")
    conversion = the_conversion(session)
    assert conversion.flags == ["pixel_unverified"] and conversion.pixel_unverified


def test_of_two_racing_confirmations_one_writes(session, clock, admin_headers, client):
    offer = new_offer(client, admin_headers)
    visit_and_buy(client, clock, partner_link(session, offer["id"]))
    pixel = the_conversion(session)
    session.commit()
    with intake_store.connect(db.engine) as store:
        stored = store.existing(pixel.offer_id, pixel.type, pixel.order_id)
        assert stored is not None and stored.pixel_unverified
        confirmed = stored.__class__(**{**vars(stored), "pixel_unverified": False, "flags": []})
        entry = intake_store.NewAuditEntry("conversion", "confirmed", "test", T0, None, None, None)
        # the guard is the flag in the database: the second finds it cleared
        assert store.confirm(confirmed, entry) is True
        assert store.confirm(confirmed, entry) is False
    assert len(session.scalars(select(AuditEntry).where(
        AuditEntry.action == "confirmed")).all()) == 1  # fmt: skip


def test_staff_approval_first_makes_the_postback_an_ordinary_repeat(
    client, session, clock, admin_headers, conversions_headers
):
    offer = new_offer(client, admin_headers)
    visit_and_buy(client, clock, partner_link(session, offer["id"]), amount="100.00")
    pixel = the_conversion(session)
    approved = client.post(f"/api/v1/conversions/{pixel.id}/approve", headers=admin_headers)
    assert approved.status_code == 200
    body = {"offer_id": offer["id"], "order_id": "P-1"}
    same = client.post("/api/v1/conversions", headers=conversions_headers,
                       json={**body, "amount": "100.00"})  # fmt: skip
    assert (same.status_code, same.get_json()["status"]) == (200, "approved")
    other = client.post("/api/v1/conversions", headers=conversions_headers,
                        json={**body, "amount": "90.00"})  # fmt: skip
    assert other.status_code == 409


def test_an_offer_with_the_pixel_off_records_nothing_from_it_yet_answers_the_gif(
    client, session, clock, admin_headers, conversions_headers
):
    offer = new_offer(client, admin_headers, pixel="off")
    visit_and_buy(client, clock, partner_link(session, offer["id"]))
    assert session.scalars(select(Conversion)).all() == []
    # the server's postback still records the order
    response = client.post("/api/v1/conversions", headers=conversions_headers, json={
        "offer_id": offer["id"], "order_id": "P-1", "amount": "10.00"})  # fmt: skip
    assert response.status_code == 201


def test_an_offer_that_trusts_its_pixel_takes_its_conversions_unflagged(
    client, session, clock, admin_headers
):
    offer = new_offer(client, admin_headers, pixel="on")
    visit_and_buy(client, clock, partner_link(session, offer["id"]), amount="10.00")
    conversion = the_conversion(session)
    assert (conversion.flags, conversion.pixel_unverified) == ([], False)


def test_an_offers_pixel_is_set_changed_and_shown_by_the_api(client, admin_headers):
    offer = new_offer(client, admin_headers, pixel="off")
    assert offer["pixel"] == "off"
    url = f"/api/v1/offers/{offer['id']}"
    changed = client.patch(url, json={"pixel": "on"}, headers=admin_headers)
    assert (changed.status_code, changed.get_json()["pixel"]) == (200, "on")
    assert client.get(url, headers=admin_headers).get_json()["pixel"] == "on"
    for bad in ("maybe", None, True):
        refused = client.patch(url, json={"pixel": bad}, headers=admin_headers)
        assert refused.status_code == 422
        assert refused.get_json()["errors"][0]["field"] == "pixel"
    assert client.post("/api/v1/offers", json={"name": "X", "pixel": "yes",
                       "destination_url": "https://a.example.com/"},
                       headers=admin_headers).status_code == 422  # fmt: skip


def test_offers_recorded_before_the_pixel_setting_are_under_review(session):
    # the migration adds the column with this server default: existing rows get it
    session.execute(insert(Offer.__table__).values(
        name="Old", slug="old", destination_url="https://old.example.com/",
        allowed_domains=["old.example.com"], currency="RUB", attribution_window_days=30,
        hold_days=30, min_click_to_conversion_seconds=10, attribution_priority=["click"],
        status="active", created_at=T0, updated_at=T0))  # fmt: skip
    session.commit()
    assert session.scalars(select(Offer.pixel).where(Offer.slug == "old")).one() == "review"
