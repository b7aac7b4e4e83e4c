"""Conversions earn what the rules say when they are recorded, and keep it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from affiliates.extensions import db
from affiliates.models import Conversion
from tests.factories import OfferFactory, PartnerFactory
from tests.helpers import sale


@pytest.fixture
def program(client, admin_headers):  # type: ignore[no-untyped-def]
    offer = OfferFactory(target_cac=Decimal("80.00"))
    partner = PartnerFactory()
    return offer, partner


def rule(client, headers, **body):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/commission-rules", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_a_conversion_earns_its_rule_and_says_why(client, admin_headers, program):
    offer, partner = program
    paying = rule(client, admin_headers, offer_id=offer.id, type="sale", kind="percent",
                  value="10")  # fmt: skip
    result = sale(client, admin_headers, offer, "A-1", partner=partner)
    assert result["commission"] == "100.00"
    assert (result["rule_id"], result["rule_version"]) == (paying["id"], 1)
    assert result["explanation"][-1] == "10% of 1\u00a0000.00 RUB = 100.00 RUB"


def test_a_new_customers_commission_is_capped_at_the_target_cac(client, admin_headers, program):
    offer, partner = program
    rule(client, admin_headers, offer_id=offer.id, type="sale", kind="percent", value="10")
    result = sale(client, admin_headers, offer, "A-2", partner=partner, new_customer=True)
    assert result["commission"] == "80.00"
    assert "capped at the target CAC" in result["explanation"][-1]


def test_editing_a_rule_never_changes_a_commission_already_given(client, admin_headers, program):
    offer, partner = program
    paying = rule(client, admin_headers, offer_id=offer.id, type="sale", kind="fixed",
                  value="150.00")  # fmt: skip
    before = sale(client, admin_headers, offer, "A-3", partner=partner)
    client.patch(f"/api/v1/commission-rules/{paying['id']}", json={"value": "300.00"},
                 headers=admin_headers)  # fmt: skip
    after = sale(client, admin_headers, offer, "A-4", partner=partner)
    again = client.get(f"/api/v1/conversions/{before['id']}", headers=admin_headers).json
    assert (again["commission"], again["rule_version"]) == ("150.00", 1)
    assert (after["commission"], after["rule_version"]) == ("300.00", 2)


def test_a_partial_refund_recomputes_with_the_rule_version_the_conversion_got(
    client, admin_headers, program
):
    offer, partner = program
    paying = rule(client, admin_headers, offer_id=offer.id, type="sale", kind="percent",
                  value="5")  # fmt: skip
    result = sale(client, admin_headers, offer, "A-5", partner=partner)
    client.patch(f"/api/v1/commission-rules/{paying['id']}", json={"value": "50"},
                 headers=admin_headers)  # fmt: skip
    refunded = client.post(f"/api/v1/conversions/{result['id']}/refund",
                           json={"amount": "400.00"}, headers=admin_headers).json  # fmt: skip
    assert refunded["commission"] == "30.00"  # 5% of the 600.00 that remains
    full = client.post(f"/api/v1/conversions/{result['id']}/refund", headers=admin_headers).json
    assert (full["status"], full["commission"]) == ("reversed", "0.00")


def test_organic_and_rejected_conversions_earn_nothing(client, admin_headers, program):
    offer, partner = program
    rule(client, admin_headers, type="sale", kind="fixed", value="100.00")
    organic = sale(client, admin_headers, offer, "O-1", "500.00")
    assert (organic["partner_id"], organic["commission"]) == (None, "0.00")
    own = sale(client, admin_headers, offer, "O-2", partner=partner, customer_email=partner.email)
    assert (own["status"], own["commission"]) == ("rejected", "0.00")


def test_a_tier_pays_from_the_partners_nth_conversion_this_month(client, admin_headers, program):
    offer, partner = program
    rule(client, admin_headers, offer_id=offer.id, type="lead", kind="fixed", value="100.00",
         tiers=[{"min_conversions": 2, "value": "250.00"}])  # fmt: skip
    paid = [
        sale(client, admin_headers, offer, f"L-{n}", partner=partner, type="lead", amount="0.00")
        for n in range(3)
    ]
    assert [p["commission"] for p in paid] == ["100.00", "100.00", "250.00"]
    session = db.session
    session.expire_all()
    stored = session.get_one(Conversion, paid[2]["id"])
    assert stored.commission == Decimal("250.00")


def test_every_change_to_the_rules_reaches_the_very_next_conversion(client, admin_headers, program):
    """The intake keeps a copy of the rules, checked against their stamp on each order."""
    offer, partner = program
    first = rule(client, admin_headers, offer_id=offer.id, type="sale", kind="fixed",
                 value="100.00")  # fmt: skip
    assert sale(client, admin_headers, offer, "S-1", partner=partner)["commission"] == "100.00"
    client.patch(f"/api/v1/commission-rules/{first['id']}", json={"value": "120.00"},
                 headers=admin_headers)  # fmt: skip
    assert sale(client, admin_headers, offer, "S-2", partner=partner)["commission"] == "120.00"
    rule(client, admin_headers, offer_id=offer.id, type="sale", kind="fixed", value="130.00",
         priority=5)  # fmt: skip
    assert sale(client, admin_headers, offer, "S-3", partner=partner)["commission"] == "130.00"
    rule(client, admin_headers, type="sale", kind="fixed", value="500.00", priority=9)
    assert sale(client, admin_headers, offer, "S-4", partner=partner)["commission"] == "500.00"
    for each in client.get("/api/v1/commission-rules", headers=admin_headers).json["items"]:
        client.delete(f"/api/v1/commission-rules/{each['id']}", headers=admin_headers)
    assert sale(client, admin_headers, offer, "S-5", partner=partner)["commission"] == "0.00"


def test_unchanged_rules_are_not_read_again_for_each_conversion(
    client, admin_headers, program, monkeypatch
):
    from affiliates.services import commission_rules

    offer, partner = program
    rule(client, admin_headers, offer_id=offer.id, type="sale", kind="percent", value="5")
    reads = []
    original = commission_rules._active_rules
    monkeypatch.setattr(commission_rules, "_active_rules",
                        lambda *args: reads.append(1) or original(*args))  # fmt: skip
    for n in range(5):
        assert (
            sale(client, admin_headers, offer, f"N-{n}", partner=partner)["commission"] == "50.00"
        )
    assert len(reads) == 1
