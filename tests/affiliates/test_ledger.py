"""The ledger: approved commissions, their reversals and adjustments, appended, never rewritten."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from affiliates.extensions import db
from affiliates.models import AuditEntry, LedgerEntry
from affiliates.services import conversions
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, partner_key
from tests.helpers import T0, sale

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def program(client, admin_headers):  # type: ignore[no-untyped-def]
    offer = OfferFactory()
    partner = PartnerFactory()
    response = client.post(
        "/api/v1/commission-rules",
        json={"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.json
    return offer, partner


def post(client, headers, path, body=None):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1{path}", json=body if body is not None else {}, headers=headers)


def entries(conversion_id=None):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    stmt = select(LedgerEntry).order_by(LedgerEntry.id)
    if conversion_id is not None:
        stmt = stmt.where(LedgerEntry.conversion_id == conversion_id)
    return [(e.kind, e.amount) for e in db.session.scalars(stmt)]


def balance(client, headers, partner):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/partners/{partner.id}/balance", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["balances"]


def test_a_pending_conversion_has_no_ledger_entry(client, admin_headers, program):
    offer, partner = program
    sale(client, admin_headers, offer, "L-0", partner=partner)
    assert entries() == []


def test_approving_a_conversion_writes_its_commission_entry(client, admin_headers, program):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-1", partner=partner)
    assert (
        post(client, admin_headers, f"/conversions/{conversion['id']}/approve").status_code == 200
    )
    assert entries(conversion["id"]) == [("commission", Decimal("100.00"))]
    assert balance(client, admin_headers, partner) == {
        "RUB": {"unpaid": "100.00", "in_payout": "0.00", "paid": "0.00"}
    }


def test_approve_due_writes_the_commission_entry_once(client, admin_headers, program):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-2", partner=partner)
    later = T0 + dt.timedelta(days=offer.hold_days + 1)
    assert conversions.approve_due(db.session, later) == 1
    assert conversions.approve_due(db.session, later) == 0
    assert entries(conversion["id"]) == [("commission", Decimal("100.00"))]


def test_the_database_refuses_a_second_commission_entry_for_a_conversion(
    client, admin_headers, program
):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-3", partner=partner)
    post(client, admin_headers, f"/conversions/{conversion['id']}/approve")
    twice = LedgerEntry(partner_id=partner.id, currency="RUB", amount=Decimal("1.00"),
                        kind="commission", conversion_id=conversion["id"], actor="t")  # fmt: skip
    db.session.add(twice)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_partial_refund_after_approval_adds_a_negative_entry(client, admin_headers, program):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-4", partner=partner)
    post(client, admin_headers, f"/conversions/{conversion['id']}/approve")
    refund = post(client, admin_headers, f"/conversions/{conversion['id']}/refund",
                  {"amount": "400.00"})  # fmt: skip
    assert refund.status_code == 200 and refund.json["commission"] == "60.00"
    assert entries(conversion["id"]) == [
        ("commission", Decimal("100.00")),
        ("reversal", Decimal("-40.00")),
    ]
    post(client, admin_headers, f"/conversions/{conversion['id']}/refund")  # the rest
    assert entries(conversion["id"])[-1] == ("reversal", Decimal("-60.00"))
    assert balance(client, admin_headers, partner)["RUB"]["unpaid"] == "0.00"


def test_rejecting_an_approved_conversion_reverses_its_commission(client, admin_headers, program):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-5", partner=partner)
    post(client, admin_headers, f"/conversions/{conversion['id']}/approve")
    post(client, admin_headers, f"/conversions/{conversion['id']}/reject", {"reason": "fraud"})
    assert entries(conversion["id"]) == [
        ("commission", Decimal("100.00")),
        ("reversal", Decimal("-100.00")),
    ]


def test_a_refund_before_approval_only_lowers_the_commission_later_entered(
    client, admin_headers, program
):
    offer, partner = program
    conversion = sale(client, admin_headers, offer, "L-6", partner=partner)
    post(client, admin_headers, f"/conversions/{conversion['id']}/refund", {"amount": "500.00"})
    assert entries() == []
    post(client, admin_headers, f"/conversions/{conversion['id']}/approve")
    assert entries(conversion["id"]) == [("commission", Decimal("50.00"))]


def test_an_organic_conversion_earns_no_entry(client, admin_headers, program):
    offer, _partner = program
    conversion = sale(client, admin_headers, offer, "L-7", "1000.00")
    post(client, admin_headers, f"/conversions/{conversion['id']}/approve")
    assert entries() == []


def test_a_manual_adjustment_is_an_audited_entry(client, admin_headers, program):
    _offer, partner = program
    response = post(client, admin_headers, f"/partners/{partner.id}/adjustments",
                    {"amount": "-25.50", "memo": "chargeback fee"})  # fmt: skip
    assert response.status_code == 201, response.json
    assert response.json["kind"] == "adjustment" and response.json["amount"] == "-25.50"
    assert balance(client, admin_headers, partner)["RUB"]["unpaid"] == "-25.50"
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.entity == "ledger_entry"))
    assert audit is not None and audit.reason == "chargeback fee"
    assert audit.actor.endswith(":admin")


def test_an_adjustment_needs_a_memo_and_a_real_partner(client, admin_headers, program):
    _offer, partner = program
    path = f"/partners/{partner.id}/adjustments"
    assert post(client, admin_headers, path, {"amount": "5.00"}).status_code == 422
    assert post(client, admin_headers, path, {"amount": "0", "memo": "x"}).status_code == 422
    missing = post(client, admin_headers, "/partners/999999/adjustments",
                   {"amount": "5.00", "memo": "x"})  # fmt: skip
    assert missing.status_code == 404


def test_a_partner_sees_its_own_balance_only(client, admin_headers, program):
    _offer, partner = program
    other = PartnerFactory()
    headers = bearer(partner_key(partner))
    assert client.get(f"/api/v1/partners/{partner.id}/balance", headers=headers).status_code == 200
    assert client.get(f"/api/v1/partners/{other.id}/balance", headers=headers).status_code == 404
    adjust = post(client, headers, f"/partners/{partner.id}/adjustments",
                  {"amount": "5.00", "memo": "x"})  # fmt: skip
    assert adjust.status_code == 403
