"""Payouts settle the ledger: each entry is paid at most once, and a payout is exactly the sum
of the entries it claimed, also when payout runs race."""

from __future__ import annotations

import csv
import io
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion, LedgerEntry, Payout
from affiliates.services import payouts as payouts_service
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, PayablePartnerFactory, partner_key
from tests.helpers import sale

pytestmark = pytest.mark.usefixtures("clock")


def make_offer(client, headers):  # type: ignore[no-untyped-def]
    offer = OfferFactory()
    response = client.post(
        "/api/v1/commission-rules",
        json={"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    return offer


def post(client, headers, path, body=None):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1{path}", json=body if body is not None else {}, headers=headers)


def approved(client, headers, offer, partner, order_id, amount):  # type: ignore[no-untyped-def]
    conversion_id = sale(client, headers, offer, order_id, amount, partner=partner)["id"]
    assert post(client, headers, f"/conversions/{conversion_id}/approve").status_code == 200
    return conversion_id


def run(client, headers, **body):  # type: ignore[no-untyped-def]
    response = post(client, headers, "/payouts/run", body)
    assert response.status_code == 201, response.json
    return response.json["items"]


def paid_entries(payout_id):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.payout_id == payout_id).order_by(LedgerEntry.id)
        )
    )


def test_a_run_pays_partners_over_the_threshold_once(client, admin_headers):
    offer = make_offer(client, admin_headers)
    rich, poor = PayablePartnerFactory(), PayablePartnerFactory()
    first = approved(client, admin_headers, offer, rich, "P-1", "6000.00")
    approved(client, admin_headers, offer, rich, "P-2", "4000.00")
    approved(client, admin_headers, offer, poor, "P-3", "9990.00")  # 999.00 < 1000.00
    items = run(client, admin_headers)
    assert [(i["partner_id"], i["amount"], i["currency"], i["status"], i["conversion_count"])
            for i in items] == [(rich.id, "1000.00", "RUB", "pending", 2)]  # fmt: skip
    assert run(client, admin_headers) == []  # nothing left over the threshold
    detail = client.get(f"/api/v1/payouts/{items[0]['id']}", headers=admin_headers).json
    assert [e["conversion_id"] for e in detail["entries"]][0] == first
    assert sum(Decimal(e["amount"]) for e in detail["entries"]) == Decimal("1000.00")
    lower = run(client, admin_headers, min_amount="500.00")
    assert [(i["partner_id"], i["amount"]) for i in lower] == [(poor.id, "999.00")]


def test_a_run_never_pays_pending_or_rejected_conversions(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory()
    sale(client, admin_headers, offer, "N-1", "5000.00", partner=partner)  # stays pending
    rejected = sale(client, admin_headers, offer, "N-2", "7000.00", partner=partner)["id"]
    post(client, admin_headers, f"/conversions/{rejected}/reject", {"reason": "fraud"})
    paid = approved(client, admin_headers, offer, partner, "N-3", "100.00")
    items = run(client, admin_headers, min_amount="0.01")
    assert [i["amount"] for i in items] == ["10.00"]
    assert [e.conversion_id for e in paid_entries(items[0]["id"])] == [paid]


def test_a_refund_after_payout_nets_against_the_next_payout(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory()
    first = approved(client, admin_headers, offer, partner, "R-1", "10000.00")
    (payout,) = run(client, admin_headers)
    assert payout["amount"] == "1000.00"
    assert post(client, admin_headers, f"/payouts/{payout['id']}/mark-paid",
                {"reference": "BANK-1"}).status_code == 200  # fmt: skip
    post(client, admin_headers, f"/conversions/{first}/refund", {"amount": "5000.00"})
    # what was paid is not rewritten
    assert [(e.kind, e.amount) for e in paid_entries(payout["id"])] == [
        ("commission", Decimal("1000.00"))
    ]
    balance = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"] == {"unpaid": "-500.00", "in_payout": "0.00",
                                          "paid": "1000.00"}  # fmt: skip
    assert run(client, admin_headers) == []  # a negative balance pays nothing
    approved(client, admin_headers, offer, partner, "R-2", "20000.00")
    (second,) = run(client, admin_headers)
    assert second["amount"] == "1500.00"
    assert sorted((e.kind, e.amount) for e in paid_entries(second["id"])) == [
        ("commission", Decimal("2000.00")),
        ("reversal", Decimal("-500.00")),
    ]
    # the first conversion's commission is in one payout only
    db.session.expire_all()
    commission_payouts = db.session.scalars(
        select(LedgerEntry.payout_id).where(
            LedgerEntry.conversion_id == first, LedgerEntry.kind == "commission"
        )
    ).all()
    assert commission_payouts == [payout["id"]]


def test_mark_failed_returns_the_entries_to_the_balance(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory()
    approved(client, admin_headers, offer, partner, "F-1", "12345.67")
    (payout,) = run(client, admin_headers)
    assert payout["amount"] == "1234.57"
    failed = post(client, admin_headers, f"/payouts/{payout['id']}/mark-failed",
                  {"reason": "account closed"})  # fmt: skip
    assert failed.status_code == 200 and failed.json["status"] == "failed"
    assert paid_entries(payout["id"]) == []
    balance = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"]["unpaid"] == "1234.57"
    again = post(client, admin_headers, f"/payouts/{payout['id']}/mark-paid", {"reference": "x"})
    assert again.status_code == 409
    (retry,) = run(client, admin_headers)
    assert retry["amount"] == "1234.57" and retry["id"] != payout["id"]
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity == "payout").order_by(AuditEntry.id)
    ).all()
    assert actions == ["created", "failed", "created"]


def test_mark_paid_records_the_reference_and_moves_the_balance(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory()
    approved(client, admin_headers, offer, partner, "M-1", "10000.00")
    (payout,) = run(client, admin_headers)
    balance = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"]["in_payout"] == "1000.00"
    paid = post(client, admin_headers, f"/payouts/{payout['id']}/mark-paid", {"reference": "B-7"})
    assert paid.status_code == 200
    assert (paid.json["status"], paid.json["reference"]) == ("paid", "B-7")
    assert paid.json["paid_at"] == "2026-03-10T12:00:00Z"
    assert post(client, admin_headers, f"/payouts/{payout['id']}/mark-failed",
                {"reason": "late"}).status_code == 409  # fmt: skip
    balance = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"] == {"unpaid": "0.00", "in_payout": "0.00",
                                          "paid": "1000.00"}  # fmt: skip
    listed = client.get("/api/v1/payouts?status=paid", headers=admin_headers).json
    assert [p["id"] for p in listed["items"]] == [payout["id"]]


def test_the_registry_lists_pending_payouts_for_the_bank(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory(name="=HYPERLINK()")
    approved(client, admin_headers, offer, partner, "E-1", "10000.00")
    (payout,) = run(client, admin_headers)
    response = client.get("/api/v1/payouts/export.csv?status=pending", headers=admin_headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [{"payment_reference": str(payout["id"]), "partner_id": str(partner.id),
                     "partner": "'=HYPERLINK()", "email": partner.email, "amount": "1000.00",
                     "currency": "RUB", "method": "card",
                     "details": "holder =HYPERLINK(); card 4111111111111111",
                     "holder_name": "'=HYPERLINK()", "bank_name": "", "bic": "",
                     "account_number": "", "correspondent_account": "", "inn": "",
                     "card_number": "4111111111111111", "phone": ""}]  # fmt: skip
    assert client.get("/api/v1/payouts/export.csv?status=paid", headers=admin_headers).get_data(
        as_text=True
    ).splitlines() == [",".join(payouts_service.REGISTRY_COLUMNS)]


BANK = {"method": "bank_transfer", "holder_name": "ООО «Ромашка»", "bank_name": "ПАО Сбербанк",
        "bic": "044525225", "account_number": "40702810200000012345",
        "correspondent_account": "30101810400000000225", "inn": "7707083893"}  # fmt: skip
SBP = {"method": "sbp", "holder_name": "Иван Петров", "bank_name": "Т-Банк",
       "phone": "8 (912) 345-67-89"}  # fmt: skip


def set_details(client, headers, partner, body):  # type: ignore[no-untyped-def]
    response = client.put(f"/api/v1/partners/{partner.id}/payout-details", json=body,
                          headers=headers)  # fmt: skip
    assert response.status_code == 200, response.json
    return response.json


def registry(client, headers, status="pending"):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/payouts/export.csv?status={status}", headers=headers)
    return {int(row["payment_reference"]): row
            for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}  # fmt: skip


def test_the_registry_has_readable_columns_for_each_method(client, admin_headers):
    offer = make_offer(client, admin_headers)
    by_card, by_bank, by_sbp = PayablePartnerFactory(), PartnerFactory(), PartnerFactory()
    set_details(client, admin_headers, by_bank, BANK)
    set_details(client, admin_headers, by_sbp, SBP)
    for n, partner in enumerate((by_card, by_bank, by_sbp)):
        approved(client, admin_headers, offer, partner, f"C-{n}", "10000.00")
    made = {i["partner_id"]: i["id"] for i in run(client, admin_headers)}
    rows = registry(client, admin_headers)
    card, bank, sbp = (rows[made[p.id]] for p in (by_card, by_bank, by_sbp))
    assert (card["method"], card["card_number"], card["holder_name"]) == (
        "card", "4111111111111111", by_card.name)  # fmt: skip
    assert {k: bank[k] for k in ("method", "holder_name", "bank_name", "bic", "account_number",
                                 "correspondent_account", "inn", "card_number", "phone")} == {
        **BANK, "card_number": "", "phone": ""}  # fmt: skip
    assert bank["details"] == (
        "holder ООО «Ромашка»; bank ПАО Сбербанк; BIC 044525225; account 40702810200000012345; "
        "corr. account 30101810400000000225; INN 7707083893"
    )
    # the phone, normalised, starts with "+" yet is a plain number, no formula: kept as it is
    assert (sbp["method"], sbp["phone"], sbp["bank_name"], sbp["account_number"]) == (
        "sbp", "+79123456789", "Т-Банк", "")  # fmt: skip
    assert sbp["details"] == "holder Иван Петров; bank Т-Банк; phone +79123456789"


@pytest.mark.parametrize("danger", ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_every_text_cell_of_the_registry_is_escaped_against_formulas(client, admin_headers, danger):
    offer = make_offer(client, admin_headers)
    partner = PartnerFactory(name=danger, email=f"{danger.strip()}@example.com")
    set_details(
        client,
        admin_headers,
        partner,
        {**BANK, "holder_name": danger + " holder", "bank_name": danger + " bank"},
    )
    approved(client, admin_headers, offer, partner, "X-1", "10000.00")
    (payout,) = run(client, admin_headers)
    row = registry(client, admin_headers)[payout["id"]]
    shown = danger.strip()  # the API strips what people type; the factory stored it as is
    assert (row["partner"], row["email"], row["holder_name"], row["bank_name"]) == (
        "'" + danger, f"'{shown}@example.com", f"'{shown} holder", f"'{shown} bank")  # fmt: skip
    assert not any(value[:1] in "=+-@\t\r" for value in row.values() if value)


def test_a_payout_keeps_the_payout_details_it_was_made_with(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PayablePartnerFactory()
    approved(client, admin_headers, offer, partner, "K-1", "10000.00")
    (first,) = run(client, admin_headers)
    assert first["payout_details"] == {"method": "card", "holder_name": partner.name,
                                       "card_number_masked": "**** 1111"}  # fmt: skip
    set_details(client, admin_headers, partner, BANK)  # e.g. a fraudster's new account
    shown = client.get(f"/api/v1/payouts/{first['id']}", headers=admin_headers).json
    assert shown["payout_details"]["method"] == "card"
    assert registry(client, admin_headers)[first["id"]]["card_number"] == "4111111111111111"
    approved(client, admin_headers, offer, partner, "K-2", "10000.00")
    (second,) = run(client, admin_headers)
    assert second["payout_details"]["method"] == "bank_transfer"
    assert second["payout_details"]["account_number_masked"] == "**** 2345"
    rows = registry(client, admin_headers)
    assert (rows[first["id"]]["method"], rows[second["id"]]["method"]) == ("card", "bank_transfer")
    assert rows[second["id"]]["account_number"] == BANK["account_number"]


def test_the_payout_audit_entry_records_masked_details_only(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PartnerFactory()
    set_details(client, admin_headers, partner, BANK)
    approved(client, admin_headers, offer, partner, "A-1", "10000.00")
    (payout,) = run(client, admin_headers)
    db.session.expire_all()
    entry = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "payout", AuditEntry.entity_id == payout["id"]
        )
    ).one()
    assert entry.after["payout_details"]["account_number_masked"] == "**** 2345"
    assert BANK["account_number"] not in str(entry.after)


def test_a_partner_without_payout_details_is_skipped_and_its_balance_waits(client, admin_headers):
    offer = make_offer(client, admin_headers)
    payable, unready = PayablePartnerFactory(), PartnerFactory()
    approved(client, admin_headers, offer, payable, "W-1", "10000.00")
    approved(client, admin_headers, offer, unready, "W-2", "12345.00")
    response = post(client, admin_headers, "/payouts/run", {})
    assert response.status_code == 201
    assert [i["partner_id"] for i in response.json["items"]] == [payable.id]
    assert set(response.json["items"][0]) >= {"id", "partner_id", "amount", "currency", "status",
                                              "conversion_count"}  # fmt: skip
    waiting = {"partner_id": unready.id, "currency": "RUB", "amount": "1234.50",
               "reason": "no_payout_details"}  # fmt: skip
    assert response.json["skipped"] == [waiting]
    balance = client.get(f"/api/v1/partners/{unready.id}/balance", headers=admin_headers).json
    assert balance["balances"]["RUB"] == {"unpaid": "1234.50", "in_payout": "0.00",
                                          "paid": "0.00"}  # fmt: skip
    set_details(client, admin_headers, unready, SBP)
    response = post(client, admin_headers, "/payouts/run", {})
    assert response.json["skipped"] == []
    (paid,) = response.json["items"]
    assert (paid["partner_id"], paid["amount"], paid["payout_details"]["method"]) == (
        unready.id, "1234.50", "sbp")  # fmt: skip


def test_a_partner_under_the_threshold_is_not_listed_as_skipped(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner = PartnerFactory()
    approved(client, admin_headers, offer, partner, "U-1", "9990.00")  # 999.00 < 1000.00
    response = post(client, admin_headers, "/payouts/run", {})
    assert response.json == {"items": [], "skipped": []}


def test_partners_see_only_their_own_payouts_and_cannot_run_them(client, admin_headers):
    offer = make_offer(client, admin_headers)
    partner, other = PayablePartnerFactory(), PayablePartnerFactory()
    approved(client, admin_headers, offer, partner, "S-1", "10000.00")
    approved(client, admin_headers, offer, other, "S-2", "10000.00")
    items = run(client, admin_headers)
    mine = {i["partner_id"]: i["id"] for i in items}
    headers = bearer(partner_key(partner))
    listed = client.get("/api/v1/payouts", headers=headers).json["items"]
    assert [p["id"] for p in listed] == [mine[partner.id]]
    assert client.get(f"/api/v1/payouts/{mine[other.id]}", headers=headers).status_code == 404
    assert post(client, headers, "/payouts/run").status_code == 403


def test_racing_payout_runs_pay_each_entry_at_most_once(app, client, admin_headers):
    offer = make_offer(client, admin_headers)
    partners = [PayablePartnerFactory() for _ in range(6)]
    for n, partner in enumerate(partners):
        for k in range(3):
            approved(client, admin_headers, offer, partner, f"X-{n}-{k}", f"{4000 + n * 10 + k}.33")
    barrier = threading.Barrier(4)
    results: list[Any] = [None] * 4

    def worker(index: int) -> None:
        own = app.test_client()
        try:
            barrier.wait(timeout=30)
            response = own.post("/api/v1/payouts/run", json={}, headers=admin_headers)
            results[index] = (response.status_code, response.get_json())
        except Exception as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            db.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(r, tuple) and r[0] == 201 for r in results), results
    items = [item for _, body in results for item in body["items"]]
    assert sorted(i["partner_id"] for i in items) == sorted(p.id for p in partners)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Payout)) == len(partners)
    total_entries = db.session.scalar(select(func.sum(LedgerEntry.amount)))
    assert (
        db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.payout_id.is_(None))
        )
        == 0
    )
    for item in items:
        claimed = paid_entries(item["id"])
        assert Decimal(item["amount"]) == sum((e.amount for e in claimed), Decimal("0.00"))
        assert item["conversion_count"] == len(claimed) == 3
    paid_total = sum((Decimal(i["amount"]) for i in items), Decimal("0.00"))
    assert paid_total == Decimal(str(total_entries)).quantize(Decimal("0.01"))
    audits = db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "payout")
    )
    assert audits == len(partners)


# A random history of conversions, reviews, refunds, adjustments and payout runs ----------

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("30000.00"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("convert"), st.integers(0, 2), amounts),
        st.tuples(st.just("approve"), st.integers(0, 20)),
        st.tuples(st.just("reject"), st.integers(0, 20)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.sampled_from([None, "0.37", "0.5"])),
        st.tuples(st.just("adjust"), st.integers(0, 2),
                  st.decimals(min_value=-500, max_value=500, places=2)),
        st.tuples(st.just("run"), st.sampled_from(["0.01", "100.00", "1000.00"])),
        st.tuples(st.just("paid"), st.integers(0, 10)),
        st.tuples(st.just("failed"), st.integers(0, 10)),
    ),
    min_size=1,
    max_size=25,
)  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=steps)
def test_any_history_pays_each_entry_at_most_once_and_exactly(client, admin_headers, history):
    offer = make_offer(client, admin_headers)
    partners = [PayablePartnerFactory() for _ in range(3)]
    ids = {p.id for p in partners}
    made: list[int] = []
    conversion_ids: list[int] = []
    ever_approved: set[int] = set()
    for n, step in enumerate(history):
        kind = step[0]
        if kind == "convert":
            order = f"H-{offer.id}-{n}"
            amount = f"{step[2]:.2f}"
            answer = sale(client, admin_headers, offer, order, amount, partner=partners[step[1]])
            conversion_ids.append(answer["id"])
        elif kind in ("approve", "reject", "refund") and conversion_ids:
            target = conversion_ids[step[1] % len(conversion_ids)]
            if kind == "approve":
                response = post(client, admin_headers, f"/conversions/{target}/approve")
                if response.status_code == 200:
                    ever_approved.add(target)
            elif kind == "reject":
                response = post(client, admin_headers, f"/conversions/{target}/reject",
                                {"reason": "r"})  # fmt: skip
            else:
                db.session.expire_all()
                row = db.session.get_one(Conversion, target)
                body = {}
                if step[2] is not None:
                    part = ((row.amount - row.refunded_amount) * Decimal(step[2])).quantize(
                        Decimal("0.01")
                    )
                    if part <= 0:
                        continue
                    body = {"amount": f"{part:.2f}"}
                response = post(client, admin_headers, f"/conversions/{target}/refund", body)
            assert response.status_code in (200, 409), response.json
        elif kind == "adjust":
            if step[2] != 0:
                path = f"/partners/{partners[step[1]].id}/adjustments"
                body = {"amount": f"{step[2]:.2f}", "memo": "m"}
                response = post(client, admin_headers, path, body)
                assert response.status_code == 201, response.json
        elif kind == "run":
            for item in run(client, admin_headers, min_amount=step[1]):
                assert Decimal(item["amount"]) > 0
                made.append(item["id"])
        elif kind in ("paid", "failed") and made:
            target = made[step[1] % len(made)]
            body = {"reference": "B"} if kind == "paid" else {"reason": "r"}
            response = post(client, admin_headers, f"/payouts/{target}/mark-{kind}", body)
            assert response.status_code in (200, 409), response.json
    db.session.expire_all()
    entries = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.partner_id.in_(ids))))
    payouts = list(db.session.scalars(select(Payout).where(Payout.partner_id.in_(ids))))
    for payout in payouts:
        claimed = [e.amount for e in entries if e.payout_id == payout.id]
        assert payout.amount > 0
        if payout.status == "failed":
            assert claimed == []
        else:
            assert payout.amount == sum(claimed, Decimal("0.00"))  # to the kopeck
    for partner in partners:
        mine = [e for e in entries if e.partner_id == partner.id]
        response = client.get(f"/api/v1/partners/{partner.id}/balance", headers=admin_headers)
        figures = response.json["balances"].get("RUB", {"unpaid": "0", "in_payout": "0",
                                                        "paid": "0"})  # fmt: skip
        assert sum(Decimal(v) for v in figures.values()) == sum(
            (e.amount for e in mine), Decimal("0.00")
        )
    by_conversion: dict[int, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.conversion_id is not None:
            by_conversion.setdefault(entry.conversion_id, []).append(entry)
    for conversion_id in conversion_ids:
        conversion = db.session.get_one(Conversion, conversion_id)
        mine = by_conversion.get(conversion_id, [])
        if conversion_id not in ever_approved:
            assert mine == []  # pending or rejected before approval: never in the ledger
            continue
        assert [e.kind for e in mine].count("commission") <= 1
        owed = conversion.commission if conversion.status == "approved" else Decimal("0.00")
        if mine:
            assert sum((e.amount for e in mine), Decimal("0.00")) == owed
