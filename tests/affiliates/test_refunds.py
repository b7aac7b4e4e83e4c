"""Refunds: a refund with a refund_id is applied once however often it is sent; one without
keeps refunding each time; after payout a refund is a new negative entry, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion, LedgerEntry, Refund
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, PayablePartnerFactory, partner_key
from tests.helpers import post_at_once, sale

pytestmark = pytest.mark.usefixtures("clock")


def refund(client, headers, conversion_id, body=None):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/conversions/{conversion_id}/refund", json=body,
                       headers=headers)  # fmt: skip


def count(model, *where: Any) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def refunds_in_trail(conversion_id: int) -> int:
    return count(AuditEntry, AuditEntry.entity == "conversion", AuditEntry.action == "refunded",
                 AuditEntry.entity_id == conversion_id)  # fmt: skip


def stored(conversion_id: int) -> Conversion:
    db.session.expire_all()
    return db.session.get_one(Conversion, conversion_id)


@pytest.fixture
def program(client, admin_headers):  # type: ignore[no-untyped-def]
    """An offer paying 10% and a partner who can be paid."""
    offer = OfferFactory()
    partner = PayablePartnerFactory()
    rule = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"}
    assert client.post("/api/v1/commission-rules", json=rule,
                       headers=admin_headers).status_code == 201  # fmt: skip
    return offer, partner


# Applied once ----------------------------------------------------------------------------


def test_a_refund_with_a_refund_id_is_applied_once_however_often_it_is_sent(
    client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    body = {"amount": "100.00", "refund_id": "RF-1"}
    answers = [refund(client, conversions_headers, conversion["id"], body) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].get_json()["refunded_amount"] == "100.00"
    assert answers[0].get_json()["commission"] == "90.00"
    assert all(answer.get_json() == answers[0].get_json() for answer in answers)
    assert stored(conversion["id"]).refunded_amount == Decimal("100.00")
    assert count(Refund) == 1
    assert refunds_in_trail(conversion["id"]) == 1


def test_a_refund_with_a_refund_id_is_applied_once_however_often_it_is_sent_after_payout(
    client, admin_headers, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, "P-1", "20000.00", partner=partner)
    client.post(f"/api/v1/conversions/{conversion['id']}/approve", json={}, headers=admin_headers)
    run = client.post("/api/v1/payouts/run", json={}, headers=admin_headers)
    (payout,) = run.get_json()["items"]
    assert payout["amount"] == "2000.00"
    body = {"amount": "5000.00", "refund_id": "RF-after-payout"}
    for _ in range(3):
        assert refund(client, conversions_headers, conversion["id"], body).status_code == 200
    db.session.expire_all()
    rows = db.session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.payout_id)
        .where(LedgerEntry.conversion_id == conversion["id"])
        .order_by(LedgerEntry.id)
    ).all()
    # the paid entry is not rewritten; the refund is one new negative entry, not three
    assert [tuple(row) for row in rows] == [
        ("commission", Decimal("2000.00"), payout["id"]),
        ("reversal", Decimal("-500.00"), None),
    ]


def test_a_repeated_refund_id_gets_the_first_answer_also_after_later_refunds(
    client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    first = refund(client, conversions_headers, conversion["id"],
                   {"amount": "100.00", "refund_id": "RF-1"})  # fmt: skip
    later = refund(client, conversions_headers, conversion["id"],
                   {"amount": "200.00", "refund_id": "RF-2"})  # fmt: skip
    assert later.get_json()["refunded_amount"] == "300.00"
    again = refund(client, conversions_headers, conversion["id"],
                   {"amount": "100.00", "refund_id": "RF-1"})  # fmt: skip
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.get_json()["refunded_amount"] == "100.00"
    assert stored(conversion["id"]).refunded_amount == Decimal("300.00")


def test_a_refund_id_sent_again_with_another_amount_is_a_409_and_changes_nothing(
    client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    refund(client, conversions_headers, conversion["id"], {"amount": "100.00", "refund_id": "R"})
    for other in ({"amount": "100.01", "refund_id": "R"}, {"refund_id": "R"}):
        response = refund(client, conversions_headers, conversion["id"], other)
        assert response.status_code == 409, other
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"] == [
            {"field": "amount", "message": "Differs from the refund already applied."}
        ]
    assert stored(conversion["id"]).refunded_amount == Decimal("100.00")
    assert (count(Refund), refunds_in_trail(conversion["id"])) == (1, 1)


def test_a_full_refund_with_a_refund_id_repeats_with_or_without_its_amount(
    client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    refund(client, conversions_headers, conversion["id"], {"amount": "400.00"})
    first = refund(client, conversions_headers, conversion["id"], {"refund_id": "ALL"})
    assert (first.get_json()["status"], first.get_json()["refunded_amount"]) == (
        "reversed", "1000.00")  # fmt: skip
    for again in ({"refund_id": "ALL"}, {"refund_id": "ALL", "amount": "600.00"}):
        response = refund(client, conversions_headers, conversion["id"], again)
        assert (response.status_code, response.get_json()) == (200, first.get_json())
    assert refund(client, conversions_headers, conversion["id"],
                  {"refund_id": "ALL", "amount": "1000.00"}).status_code == 409  # fmt: skip
    assert refunds_in_trail(conversion["id"]) == 2


def test_a_refund_without_a_refund_id_keeps_refunding_each_time(
    client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    for _ in range(3):
        refund(client, conversions_headers, conversion["id"], {"amount": "100.00"})
    assert stored(conversion["id"]).refunded_amount == Decimal("300.00")
    assert (count(Refund), refunds_in_trail(conversion["id"])) == (3, 3)


def test_a_refund_id_is_unique_per_conversion_not_across_conversions(
    client, conversions_headers, program
):
    offer, partner = program
    one = sale(client, conversions_headers, offer, "O-1", partner=partner)
    two = sale(client, conversions_headers, offer, "O-2", partner=partner)
    for conversion in (one, two):
        response = refund(client, conversions_headers, conversion["id"],
                          {"amount": "10.00", "refund_id": "SAME"})  # fmt: skip
        assert response.get_json()["refunded_amount"] == "10.00"
    assert count(Refund) == 2


def test_a_repeat_of_a_refund_id_answers_so_also_when_the_conversion_was_rejected_since(
    client, admin_headers, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    body = {"amount": "10.00", "refund_id": "R"}
    first = refund(client, conversions_headers, conversion["id"], body)
    client.post(f"/api/v1/conversions/{conversion['id']}/reject", json={"reason": "fraud"},
                headers=admin_headers)  # fmt: skip
    again = refund(client, conversions_headers, conversion["id"], body)
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    fresh = refund(client, conversions_headers, conversion["id"], {**body, "refund_id": "R2"})
    assert fresh.status_code == 409


@pytest.mark.parametrize(
    ("refund_id", "status"),
    [("", 422), ("   ", 422), ("x" * 201, 422), (17, 422), (True, 422), (None, 200),
     ("x" * 200, 200), ("  padded  ", 200)],
)  # fmt: skip
def test_a_refund_id_is_a_bounded_string(client, conversions_headers, refund_id, status):
    conversion = sale(client, conversions_headers, OfferFactory())
    response = refund(client, conversions_headers, conversion["id"],
                      {"amount": "1.00", "refund_id": refund_id})  # fmt: skip
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert [e["field"] for e in response.get_json()["errors"]] == ["refund_id"]


def test_a_padded_refund_id_is_the_same_refund_id(client, conversions_headers):
    conversion = sale(client, conversions_headers, OfferFactory())
    for refund_id in ("R-1", " R-1 "):
        refund(client, conversions_headers, conversion["id"],
               {"amount": "1.00", "refund_id": refund_id})  # fmt: skip
    assert stored(conversion["id"]).refunded_amount == Decimal("1.00")


# Races -----------------------------------------------------------------------------------


def race(app, conversion_id: int, bodies: list[dict[str, Any]], headers) -> list[Any]:
    """POST every refund at once, one thread (and test client, session, connection) each."""
    results = post_at_once(app, f"/api/v1/conversions/{conversion_id}/refund", bodies, headers)
    assert all(isinstance(result, tuple) for result in results), results
    return results


@pytest.mark.parametrize("amount", ["100.00", None], ids=["partial", "full"])
def test_a_refund_with_a_refund_id_is_applied_once_however_often_it_is_sent_at_once(
    app, client, admin_headers, conversions_headers, program, amount
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    client.post(f"/api/v1/conversions/{conversion['id']}/approve", json={}, headers=admin_headers)
    body = {"refund_id": "RACE"} | ({"amount": amount} if amount else {})
    results = race(app, conversion["id"], [body] * 10, conversions_headers)
    assert [status for status, _ in results] == [200] * 10, results
    answers = [answer for _, answer in results]
    assert all(answer == answers[0] for answer in answers)
    refunded = Decimal(amount or "1000.00")
    assert stored(conversion["id"]).refunded_amount == refunded
    assert (count(Refund), refunds_in_trail(conversion["id"])) == (1, 1)
    reversals = count(LedgerEntry, LedgerEntry.conversion_id == conversion["id"],
                      LedgerEntry.kind == "reversal")  # fmt: skip
    assert reversals == 1


def test_racing_copies_of_a_refund_id_with_another_amount_are_conflicts_not_refunds(
    app, client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    bodies = [{"refund_id": "RACE", "amount": a} for a in ["10.00"] * 4 + ["20.00"] * 4]
    results = race(app, conversion["id"], bodies, conversions_headers)
    kept = stored(conversion["id"]).refunded_amount
    assert kept in (Decimal("10.00"), Decimal("20.00"))
    for body, (status, _) in zip(bodies, results, strict=True):
        assert status == (200 if body["amount"] == f"{kept:.2f}" else 409), results
    assert (count(Refund), refunds_in_trail(conversion["id"])) == (1, 1)


def test_racing_refunds_with_different_refund_ids_each_apply_once(
    app, client, conversions_headers, program
):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    bodies = [{"refund_id": f"R-{n % 4}", "amount": "50.00"} for n in range(8)]
    results = race(app, conversion["id"], bodies, conversions_headers)
    assert [status for status, _ in results] == [200] * 8, results
    assert stored(conversion["id"]).refunded_amount == Decimal("200.00")
    assert (count(Refund), refunds_in_trail(conversion["id"])) == (4, 4)


# The list --------------------------------------------------------------------------------


def test_a_conversions_refunds_are_listed_newest_first(client, conversions_headers, program):
    offer, partner = program
    conversion = sale(client, conversions_headers, offer, partner=partner)
    refund(client, conversions_headers, conversion["id"], {"amount": "10.00", "refund_id": "A"})
    refund(client, conversions_headers, conversion["id"], {"amount": "20.00"})
    refund(client, conversions_headers, conversion["id"], {"refund_id": "rest"})
    listed = client.get(f"/api/v1/conversions/{conversion['id']}/refunds?limit=2",
                        headers=conversions_headers).get_json()  # fmt: skip
    assert [(r["refund_id"], r["amount"], r["full"]) for r in listed["items"]] == [
        ("rest", "970.00", True), (None, "20.00", False)]  # fmt: skip
    rest = client.get(f"/api/v1/conversions/{conversion['id']}/refunds",
                      query_string={"cursor": listed["next_cursor"]},
                      headers=conversions_headers).get_json()  # fmt: skip
    assert [r["refund_id"] for r in rest["items"]] == ["A"]
    assert rest["next_cursor"] is None


def test_a_partner_key_lists_the_refunds_of_its_own_conversions_only(
    client, conversions_headers, program
):
    offer, partner = program
    other = PartnerFactory()
    own = sale(client, conversions_headers, offer, "OWN", partner=partner)
    theirs = sale(client, conversions_headers, offer, "THEIRS", partner=other)
    for conversion in (own, theirs):
        refund(client, conversions_headers, conversion["id"], {"amount": "1.00", "refund_id": "R"})
    headers = bearer(partner_key(partner))
    mine = client.get(f"/api/v1/conversions/{own['id']}/refunds", headers=headers)
    assert [r["refund_id"] for r in mine.get_json()["items"]] == ["R"]
    hidden = client.get(f"/api/v1/conversions/{theirs['id']}/refunds", headers=headers)
    assert hidden.status_code == 404
    assert refund(client, headers, own["id"], {"amount": "1.00"}).status_code == 403


# The document ----------------------------------------------------------------------------


def test_the_openapi_document_describes_refund_id_the_repeat_and_the_conflict(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/conversions/{conversion_id}/refund"]["post"]
    assert set(operation["responses"]) >= {"200", "409", "422"}
    assert "application/json" in operation["responses"]["200"]["content"]
    assert "refund_id" in operation["responses"]["200"]["description"]
    assert "application/problem+json" in operation["responses"]["409"]["content"]
    schema = document["components"]["schemas"]["RefundIn"]
    assert set(schema["properties"]) == {"amount", "refund_id"}
    assert "get" in document["paths"]["/api/v1/conversions/{conversion_id}/refunds"]
