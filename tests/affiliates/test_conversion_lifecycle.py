"""A conversion's life: pending, approved by approve-due or staff, rejected, refunded, audited."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from affiliates.models import AuditEntry, Conversion
from tests.conftest import bearer
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, partner_key
from tests.helpers import T0, add_click, iso, sale

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.usefixtures("clock")


def fresh(session, conversion_id) -> Conversion:
    """The row as the database has it now (the test shares its session with the requests)."""
    session.expire_all()
    return session.get(Conversion, conversion_id)


def trail(session, conversion_id) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "conversion", AuditEntry.entity_id == conversion_id)
            .order_by(AuditEntry.id)
        )
    )


def act(client, headers, conversion_id, action, payload=None):
    return client.post(f"/api/v1/conversions/{conversion_id}/{action}", json=payload,
                       headers=headers)  # fmt: skip


def approve_due(runner) -> str:
    result = runner.invoke(args=["approve-due"])
    assert result.exit_code == 0, result.output
    return result.output


# approve-due -----------------------------------------------------------------------------


def test_approve_due_approves_unflagged_pending_conversions_past_their_hold(
    client, session, runner, clock, conversions_headers
):
    offer = OfferFactory(hold_days=30)
    due = sale(client, conversions_headers, offer, order_id="due",
               occurred_at=iso(T0 - 31 * DAY))  # fmt: skip
    exactly = sale(client, conversions_headers, offer, order_id="exactly",
                   occurred_at=iso(T0 - 30 * DAY))  # fmt: skip
    held = sale(client, conversions_headers, offer, order_id="held",
                occurred_at=iso(T0 - 29 * DAY))  # fmt: skip
    assert "Approved 2 conversions." in approve_due(runner)
    assert fresh(session, due["id"]).status == "approved"
    assert fresh(session, exactly["id"]).status == "approved"
    assert fresh(session, held["id"]).status == "pending"
    assert "Approved 0 conversions." in approve_due(runner)
    clock.now = T0 + DAY
    assert "Approved 1 conversion." in approve_due(runner)
    assert fresh(session, held["id"]).status == "approved"


def test_approve_due_writes_an_audit_entry_for_each_approval(
    client, session, runner, conversions_headers
):
    offer = OfferFactory(hold_days=0)
    body = sale(client, conversions_headers, offer, occurred_at=iso(T0 - DAY))
    approve_due(runner)
    created, approved = trail(session, body["id"])
    assert (created.action, approved.action) == ("created", "approved")
    assert approved.actor == "approve-due"
    assert approved.before["status"] == "pending"
    assert approved.after["status"] == "approved"
    assert approved.reason == "hold period over"


def test_a_flagged_conversion_is_never_approved_by_approve_due(
    client, session, runner, clock, conversions_headers
):
    offer = OfferFactory(hold_days=1)
    click_id = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(seconds=2))
    flagged = sale(client, conversions_headers, offer, click_id=click_id)
    assert flagged["flags"] == ["too_fast"]
    clock.now = T0 + 400 * DAY
    assert "Approved 0 conversions." in approve_due(runner)
    assert fresh(session, flagged["id"]).status == "pending"
    assert [entry.action for entry in trail(session, flagged["id"])] == ["created"]


def test_approve_due_leaves_rejected_and_reversed_conversions_alone(
    client, session, runner, clock, admin_headers, conversions_headers
):
    offer = OfferFactory(hold_days=0)
    rejected = sale(client, conversions_headers, offer, order_id="r")
    reversed_ = sale(client, conversions_headers, offer, order_id="v")
    act(client, admin_headers, rejected["id"], "reject", {"reason": "test order"})
    act(client, conversions_headers, reversed_["id"], "refund")
    clock.now = T0 + DAY
    assert "Approved 0 conversions." in approve_due(runner)
    assert fresh(session, rejected["id"]).status == "rejected"
    assert fresh(session, reversed_["id"]).status == "reversed"


# Staff review ----------------------------------------------------------------------------


def test_staff_can_approve_a_flagged_conversion(client, session, admin_headers,
                                               conversions_headers):  # fmt: skip
    offer = OfferFactory()
    click_id = add_click(session, LinkFactory(offer=offer), T0 - dt.timedelta(seconds=1))
    body = sale(client, conversions_headers, offer, click_id=click_id)
    response = act(client, admin_headers, body["id"], "approve", {"reason": "checked by phone"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "approved"
    assert response.get_json()["flags"] == ["too_fast"]  # the flags stay as a record
    entry = trail(session, body["id"])[-1]
    assert (entry.action, entry.reason) == ("approved", "checked by phone")
    assert entry.actor.startswith("api-key:") and entry.actor.endswith(":admin")
    assert (entry.before["status"], entry.after["status"]) == ("pending", "approved")
    again = act(client, admin_headers, body["id"], "approve")
    assert again.status_code == 200
    assert len(trail(session, body["id"])) == 2  # approving twice changes nothing


def test_staff_can_reject_a_conversion_with_a_reason(client, session, admin_headers,
                                                    conversions_headers):  # fmt: skip
    offer = OfferFactory()
    partner = PartnerFactory()
    body = sale(client, conversions_headers, offer, utm_source=partner.ref_code)
    response = act(client, admin_headers, body["id"], "reject", {"reason": "cancelled order"})
    assert response.status_code == 200
    out = response.get_json()
    assert (out["status"], out["reason"], out["commission"]) == ("rejected", "cancelled order",
                                                                "0.00")  # fmt: skip
    entry = trail(session, body["id"])[-1]
    assert (entry.action, entry.reason) == ("rejected", "cancelled order")
    assert entry.before["status"] == "pending" and entry.after["status"] == "rejected"
    assert act(client, admin_headers, body["id"], "approve").status_code == 409


def test_a_rejection_needs_a_reason(client, admin_headers, conversions_headers):
    body = sale(client, conversions_headers, OfferFactory())
    for payload in (None, {}, {"reason": "   "}):
        response = act(client, admin_headers, body["id"], "reject", payload)
        assert response.status_code in (400, 422)
        assert response.mimetype == "application/problem+json"


def test_review_of_an_unknown_conversion_is_404(client, admin_headers):
    for action, payload in (("approve", {}), ("reject", {"reason": "x"}), ("refund", {})):
        assert act(client, admin_headers, 10**9, action, payload).status_code == 404


# Refunds ---------------------------------------------------------------------------------


def test_a_partial_refund_keeps_the_conversion_pending_with_refunded_amount(
    client, session, conversions_headers
):
    body = sale(client, conversions_headers, OfferFactory(), amount="1000.00")
    response = act(client, conversions_headers, body["id"], "refund", {"amount": "400.00"})
    assert response.status_code == 200
    out = response.get_json()
    assert (out["status"], out["amount"], out["refunded_amount"], out["commission"]) == (
        "pending", "1000.00", "400.00", "0.00")  # fmt: skip
    act(client, conversions_headers, body["id"], "refund", {"amount": "100.50"})
    assert fresh(session, body["id"]).refunded_amount == pytest.approx(500.5)


def test_a_full_refund_reverses_the_conversion_with_commission_zero(
    client, session, conversions_headers
):
    body = sale(client, conversions_headers, OfferFactory(), amount="1000.00")
    out = act(client, conversions_headers, body["id"], "refund").get_json()
    assert (out["status"], out["refunded_amount"], out["commission"]) == ("reversed", "1000.00",
                                                                         "0.00")  # fmt: skip
    again = act(client, conversions_headers, body["id"], "refund")
    assert again.status_code == 200 and again.get_json() == out
    assert [e.action for e in trail(session, body["id"])] == ["created", "refunded"]


def test_refunds_that_add_up_to_the_amount_reverse_the_conversion(client, conversions_headers):
    body = sale(client, conversions_headers, OfferFactory(), amount="1000.00")
    act(client, conversions_headers, body["id"], "refund", {"amount": "999.99"})
    out = act(client, conversions_headers, body["id"], "refund", {"amount": "0.01"}).get_json()
    assert (out["status"], out["refunded_amount"]) == ("reversed", "1000.00")


def test_refunding_more_than_remains_is_a_422_and_changes_nothing(
    client, session, conversions_headers
):
    body = sale(client, conversions_headers, OfferFactory(), amount="1000.00")
    act(client, conversions_headers, body["id"], "refund", {"amount": "600.00"})
    for amount in ("400.01", "5000.00"):
        response = act(client, conversions_headers, body["id"], "refund", {"amount": amount})
        assert response.status_code == 422
        assert response.get_json()["errors"][0]["field"] == "amount"
    for amount in ("0", "-1.00", "1.001"):
        response = act(client, conversions_headers, body["id"], "refund", {"amount": amount})
        assert response.status_code == 422
    conversion = fresh(session, body["id"])
    assert (conversion.status, conversion.refunded_amount) == ("pending", pytest.approx(600))
    assert len(trail(session, body["id"])) == 2


def test_a_refund_of_an_approved_conversion_keeps_it_approved_when_partial(
    client, session, admin_headers, conversions_headers
):
    body = sale(client, conversions_headers, OfferFactory(), amount="1000.00")
    act(client, admin_headers, body["id"], "approve")
    out = act(client, conversions_headers, body["id"], "refund", {"amount": "10.00"}).get_json()
    assert (out["status"], out["refunded_amount"]) == ("approved", "10.00")
    out = act(client, conversions_headers, body["id"], "refund").get_json()
    assert (out["status"], out["commission"]) == ("reversed", "0.00")


def test_a_rejected_conversion_cannot_be_refunded_and_a_reversed_one_cannot_be_rejected(
    client, admin_headers, conversions_headers
):
    offer = OfferFactory()
    rejected = sale(client, conversions_headers, offer, order_id="1")
    act(client, admin_headers, rejected["id"], "reject", {"reason": "fraud"})
    assert act(client, conversions_headers, rejected["id"], "refund").status_code == 409
    reversed_ = sale(client, conversions_headers, offer, order_id="2")
    act(client, conversions_headers, reversed_["id"], "refund")
    assert act(client, admin_headers, reversed_["id"], "reject", {"reason": "x"}).status_code == 409
    assert act(client, admin_headers, reversed_["id"], "approve").status_code == 409


def test_a_partner_key_cannot_refund(client, session, conversions_headers):
    partner = PartnerFactory()
    body = sale(client, conversions_headers, OfferFactory(), utm_source=partner.ref_code)
    response = act(client, bearer(partner_key(partner)), body["id"], "refund")
    assert response.status_code == 403
    assert fresh(session, body["id"]).status == "pending"


# The audit trail -------------------------------------------------------------------------


def test_every_status_change_writes_an_audit_entry_with_actor_before_after_and_reason(
    client, session, runner, clock, admin_headers, conversions_headers
):
    partner = PartnerFactory()
    offer = OfferFactory(hold_days=10)
    body = sale(client, conversions_headers, offer, amount="500.00", utm_source=partner.ref_code)
    act(client, conversions_headers, body["id"], "refund", {"amount": "100.00"})
    clock.now = T0 + 11 * DAY
    approve_due(runner)
    act(client, admin_headers, body["id"], "reject", {"reason": "chargeback"})
    entries = trail(session, body["id"])
    assert [e.action for e in entries] == ["created", "refunded", "approved", "rejected"]
    created, refunded, approved, rejected = entries
    assert created.before is None
    assert created.after["status"] == "pending" and created.after["partner_id"] == partner.id
    assert "utm" in created.reason
    assert created.actor.endswith(":conversions")
    assert refunded.before["refunded_amount"] == "0.00"
    assert refunded.after["refunded_amount"] == "100.00"
    assert refunded.reason == "refund of 100.00"
    assert (approved.actor, approved.before["status"], approved.after["status"]) == (
        "approve-due", "pending", "approved")  # fmt: skip
    assert rejected.actor.endswith(":admin")
    assert (rejected.before["status"], rejected.after["status"], rejected.reason) == (
        "approved", "rejected", "chargeback")  # fmt: skip
    assert all(entry.at is not None for entry in entries)
    # each entry's "after" is the next one's "before": the trail has no gaps
    for earlier, later in itertools.pairwise(entries):
        assert earlier.after == later.before


def test_a_self_referral_is_audited_as_created_rejected(client, session, conversions_headers):
    partner = PartnerFactory(email="me@example.com")
    body = sale(client, conversions_headers, OfferFactory(), utm_source=partner.ref_code,
                customer_email="me@example.com")  # fmt: skip
    (entry,) = trail(session, body["id"])
    assert (entry.after["status"], entry.after["reason"]) == ("rejected", "self_referral")
    assert "itself: rejected" in entry.reason
