"""A suspended partner: its API keys answer 403 "Partner suspended" on every route, its links
still redirect but win nothing, and payout runs skip it until it is reinstated."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from affiliates.api.core import ENDPOINTS
from affiliates.models import AuditEntry, Link, PayoutDetails
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PayablePartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import T0, add_click, sale

pytestmark = pytest.mark.usefixtures("clock")


def set_status(client, admin_headers, partner, status: str) -> None:
    response = client.patch(f"/api/v1/partners/{partner.id}", json={"status": status},
                            headers=admin_headers)  # fmt: skip
    assert response.status_code == 200, response.json


def concrete(rule: str, partner_id: int) -> str:
    """The route's rule with its variables filled in (the partner's own id where named)."""
    path = rule.replace("<int:partner_id>", str(partner_id))
    return "/api/v1" + re.sub(r"<(?:\w+:)?\w+>", "1", path)


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


# Its keys ------------------------------------------------------------------------------------


def test_a_suspended_partners_keys_answer_403_partner_suspended_on_every_route(
    client, session, admin_headers
):
    partner = PayablePartnerFactory()
    offer = OfferFactory()
    headers = bearer(partner_key(partner))
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    set_status(client, admin_headers, partner, "suspended")
    assert ENDPOINTS
    for endpoint in ENDPOINTS:
        path = concrete(endpoint.rule, partner.id)
        body = {"offer_id": offer.id, "partner_id": partner.id}
        response = client.open(path, method=endpoint.method, json=body, headers=headers)
        assert response.status_code == 403, (endpoint.method, path, response.json)
        assert response.mimetype == "application/problem+json"
        assert response.json["title"] == "Partner suspended"
        assert response.json["detail"].startswith("Partner suspended")
    set_status(client, admin_headers, partner, "active")
    assert client.get("/api/v1/links", headers=headers).status_code == 200


def test_a_suspended_partners_key_creates_no_link_and_changes_no_payout_details(
    client, session, admin_headers
):
    partner = PayablePartnerFactory()
    offer = OfferFactory()
    headers = bearer(partner_key(partner))
    # the key was just used (and would be remembered, were partner keys cached)
    assert client.get("/api/v1/links", headers=headers).status_code == 200
    set_status(client, admin_headers, partner, "suspended")
    audit_before = count(session, AuditEntry)
    link = client.post("/api/v1/links", json={"offer_id": offer.id}, headers=headers)
    details = client.put(f"/api/v1/partners/{partner.id}/payout-details", headers=headers,
                         json={"method": "card", "holder_name": "Thief",
                               "card_number": "4111111111111111"})  # fmt: skip
    assert (link.status_code, details.status_code) == (403, 403)
    assert count(session, Link) == 0
    assert session.scalar(select(PayoutDetails.holder_name)) != "Thief"
    assert count(session, AuditEntry) == audit_before


def test_a_pending_partners_key_still_works(client, admin_headers):
    partner = PartnerFactory(status="pending")
    assert client.get("/api/v1/links", headers=bearer(partner_key(partner))).status_code == 200


# Its links and attribution -------------------------------------------------------------------


def test_a_suspended_partners_link_still_redirects_and_its_sale_is_not_attributed(
    client, session, conversions_headers, admin_headers
):
    partner, offer = PartnerFactory(), OfferFactory()
    link = LinkFactory(partner=partner, offer=offer)
    set_status(client, admin_headers, partner, "suspended")
    response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    click_id = response.headers["Location"].split("aff_click_id=")[1].split("&")[0]
    got = sale(client, conversions_headers, offer, "S-1", click_id=click_id)
    assert got["partner_id"] is None and got["attribution"] is None
    assert any("not active" in line for line in got["explanation"]), got["explanation"]


def test_a_partner_suspended_after_its_click_promo_code_ref_code_or_customer_wins_nothing(
    client, session, conversions_headers, admin_headers
):
    """The engine gets the partner's status as data (PartnerFacts.active) at every touch."""
    offer = OfferFactory()
    partner = PartnerFactory()
    link = LinkFactory(offer=offer, partner=partner)
    click_id = add_click(session, link, T0.replace(hour=10))
    PromoCodeFactory(code="SUSP10", offer=offer, partner=partner)
    first = sale(client, conversions_headers, offer, "B-1", partner=partner,
                 customer_id="c-1")  # fmt: skip
    assert first["partner_id"] == partner.id  # the customer is now bound to the partner
    set_status(client, admin_headers, partner, "suspended")
    touches = [{"click_id": click_id}, {"promo_code": "SUSP10"},
               {"utm_source": partner.ref_code}, {"customer_id": "c-1"}]  # fmt: skip
    for n, touch in enumerate(touches):
        got = sale(client, conversions_headers, offer, f"S-{n}", **touch)
        assert got["partner_id"] is None, (touch, got["explanation"])
    set_status(client, admin_headers, partner, "active")
    assert sale(client, conversions_headers, offer, "S-9", click_id=click_id)["partner_id"] == (
        partner.id
    )


# Payouts -------------------------------------------------------------------------------------


def make_offer(client, headers):  # type: ignore[no-untyped-def]
    offer = OfferFactory()
    response = client.post("/api/v1/commission-rules", headers=headers,
                           json={"offer_id": offer.id, "type": "sale", "kind": "percent",
                                 "value": "10"})  # fmt: skip
    assert response.status_code == 201, response.json
    return offer


def approved(client, headers, offer, partner, order_id, amount) -> None:  # type: ignore[no-untyped-def]
    conversion_id = sale(client, headers, offer, order_id, amount, partner=partner)["id"]
    response = client.post(f"/api/v1/conversions/{conversion_id}/approve", json={},
                           headers=headers)  # fmt: skip
    assert response.status_code == 200


def test_payout_runs_skip_a_suspended_partner_and_its_balance_waits_until_it_is_reinstated(
    client, admin_headers
):
    offer = make_offer(client, admin_headers)
    partner, other = PayablePartnerFactory(), PayablePartnerFactory()
    approved(client, admin_headers, offer, partner, "P-1", "20000.00")
    approved(client, admin_headers, offer, other, "P-2", "10000.00")
    set_status(client, admin_headers, partner, "suspended")
    response = client.post("/api/v1/payouts/run", json={}, headers=admin_headers)
    assert response.status_code == 201, response.json
    assert [item["partner_id"] for item in response.json["items"]] == [other.id]
    waiting = {"partner_id": partner.id, "currency": "RUB", "amount": "2000.00",
               "reason": "partner_suspended"}  # fmt: skip
    assert response.json["skipped"] == [waiting]
    balance = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"]["unpaid"] == "2000.00"
    set_status(client, admin_headers, partner, "active")
    response = client.post("/api/v1/payouts/run", json={}, headers=admin_headers)
    assert response.json["skipped"] == []
    (paid,) = response.json["items"]
    assert (paid["partner_id"], paid["amount"]) == (partner.id, "2000.00")


def test_the_payouts_run_command_says_a_suspended_partners_balance_waits(
    client, runner, admin_headers
):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory(name="Gone")
    approved(client, admin_headers, offer, partner, "P-1", "20000.00")
    set_status(client, admin_headers, partner, "suspended")
    result = runner.invoke(args=["payouts", "run"])
    assert result.exit_code == 0, result.output
    assert f"Skipped partner {partner.id} (Gone): 2000.00 RUB waits, partner suspended" in (
        result.output
    )
