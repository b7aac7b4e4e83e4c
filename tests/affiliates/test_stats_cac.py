"""Effective CAC: what new customers really cost, next to the offer's target."""

from __future__ import annotations

from decimal import Decimal

from tests.factories import OfferFactory, PartnerFactory, PayablePartnerFactory
from tests.helpers import sale


def _setup(client, headers):  # type: ignore[no-untyped-def]
    offer = OfferFactory(target_cac=Decimal("120.00"))
    anna, shop = PartnerFactory(), PartnerFactory()
    terms = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"}
    client.post("/api/v1/commission-rules", headers=headers, json=terms)
    sale(client, headers, offer, "A1", "1000.00", partner=anna, new_customer=True)  # 100.00
    sale(client, headers, offer, "A2", "500.00", partner=anna, new_customer=True)  # 50.00
    # 200.00, a returning customer
    sale(client, headers, offer, "A3", "2000.00", partner=anna, new_customer=False)
    # 300.00 capped at the target CAC 120.00
    sale(client, headers, offer, "S1", "3000.00", partner=shop, new_customer=True)
    rejected = sale(client, headers, offer, "S2", "700.00", partner=shop, new_customer=True)
    client.post(f"/api/v1/conversions/{rejected['id']}/reject", json={"reason": "test"},
                headers=headers)  # fmt: skip
    return offer, anna, shop


def test_cost_per_new_customer_is_their_commission_over_their_number(client, admin_headers):
    offer, anna, shop = _setup(client, admin_headers)
    totals = client.get(f"/api/v1/stats?offer_id={offer.id}", headers=admin_headers).json["totals"]
    assert totals["new_customers"] == 3
    # (100.00 + 50.00 + 120.00) / 3
    assert totals["cost_per_new_customer"] == "90.00"
    assert totals["target_cac"] == "120.00"


def test_stats_group_by_partner_show_each_partners_effective_cac(client, admin_headers):
    offer, anna, shop = _setup(client, admin_headers)
    rows = client.get(f"/api/v1/stats?offer_id={offer.id}&group_by=partner",
                      headers=admin_headers).json["rows"]  # fmt: skip
    by_key = {row["key"]: row for row in rows}
    assert by_key[str(anna.id)]["new_customers"] == 2
    assert by_key[str(anna.id)]["cost_per_new_customer"] == "75.00"
    assert by_key[str(shop.id)]["new_customers"] == 1
    assert by_key[str(shop.id)]["cost_per_new_customer"] == "120.00"


def test_stats_group_by_offer_put_the_target_cac_next_to_the_effective_one(client, admin_headers):
    offer, _anna, _shop = _setup(client, admin_headers)
    other = OfferFactory()
    rows = client.get("/api/v1/stats?group_by=offer", headers=admin_headers).json["rows"]
    row = next(r for r in rows if r["key"] == str(offer.id))
    assert (row["target_cac"], row["cost_per_new_customer"]) == ("120.00", "90.00")
    assert all(r["key"] != str(other.id) for r in rows)  # no traffic, no row


def test_no_new_customers_means_no_cost_per_new_customer(client, admin_headers):
    partner = PartnerFactory()
    totals = client.get(f"/api/v1/stats?partner_id={partner.id}",
                        headers=admin_headers).json["totals"]  # fmt: skip
    assert (totals["new_customers"], totals["cost_per_new_customer"]) == (0, None)


def test_paid_commission_moves_from_approved_to_paid_in_stats(client, admin_headers):
    offer = OfferFactory()
    partner = PayablePartnerFactory()
    terms = {"offer_id": offer.id, "type": "sale", "kind": "fixed", "value": "300.00"}
    client.post("/api/v1/commission-rules", headers=admin_headers, json=terms)
    conversion = sale(client, admin_headers, offer, "P-1", "1000.00", partner=partner)
    client.post(f"/api/v1/conversions/{conversion['id']}/approve", headers=admin_headers)

    def totals():  # type: ignore[no-untyped-def]
        url = f"/api/v1/stats?partner_id={partner.id}"
        return client.get(url, headers=admin_headers).json["totals"]

    assert (totals()["commission_approved"], totals()["commission_paid"]) == ("300.00", "0.00")
    run = client.post("/api/v1/payouts/run", json={"min_amount": "100.00"}, headers=admin_headers)
    assert run.status_code == 201, run.json
    payout = run.json["items"][0]
    # in a pending payout the commission is still approved, not yet paid
    assert (totals()["commission_approved"], totals()["commission_paid"]) == ("300.00", "0.00")
    paid = client.post(f"/api/v1/payouts/{payout['id']}/mark-paid",
                       json={"reference": "PP-1"}, headers=admin_headers)  # fmt: skip
    assert paid.status_code == 200, paid.json
    assert (totals()["commission_approved"], totals()["commission_paid"]) == ("0.00", "300.00")
