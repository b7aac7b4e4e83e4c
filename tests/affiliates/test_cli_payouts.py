"""`affiliates payouts …`: run, list, export, mark-paid and mark-failed from the command line,
through the same services as the API; bad input is a message and a non-zero exit."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Payout
from affiliates.services import commission_rules, conversions, ledger
from tests.factories import OfferFactory, PartnerFactory, PayablePartnerFactory
from tests.helpers import T0

pytestmark = pytest.mark.usefixtures("clock")


def invoke(runner, *args):  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["payouts", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def credit(partner, amount, currency="RUB"):  # type: ignore[no-untyped-def]
    """An approved balance, as a manual adjustment (the ledger is the same either way)."""
    ledger.adjust(db.session, partner.id, Decimal(amount), currency, "bonus", actor="tests")


def payout_of(partner) -> Payout:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalars(select(Payout).where(Payout.partner_id == partner.id)).one()


# run -------------------------------------------------------------------------------------


def test_payouts_run_prints_each_payout_each_skipped_partner_and_a_total(runner):
    paid = PayablePartnerFactory(name="Anna")
    waits = PartnerFactory(name="Shop")
    small = PayablePartnerFactory()
    credit(paid, "1500.00")
    credit(waits, "2000.00")
    credit(small, "999.99")
    result = invoke(runner, "run")
    assert result.exit_code == 0, result.output
    payout = payout_of(paid)
    assert result.output.splitlines() == [
        f"Payout {payout.id}: partner {paid.id} (Anna), 1500.00 RUB, 0 conversions, "
        "to card **** 1111",
        f"Skipped partner {waits.id} (Shop): 2000.00 RUB waits, no payout details",
        "Total: 1 payout, 1500.00 RUB; 1 partner skipped, 2000.00 RUB waiting.",
    ]
    assert payout.method == "card" and payout.details["card_number"] == "4111111111111111"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "payout")).one()
    assert entry.actor == "cli"


def test_payouts_run_takes_a_currency_and_a_threshold(runner):
    partner = PayablePartnerFactory()
    credit(partner, "600.00")
    credit(partner, "700.00", "USD")
    result = invoke(runner, "run", "--currency", "usd", "--min-amount", "500.00")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Total: 1 payout, 700.00 USD."
    assert payout_of(partner).currency == "USD"


def test_payouts_run_with_nothing_to_pay_says_so(runner):
    result = invoke(runner, "run")
    assert (result.exit_code, result.output) == (0, "Total: 0 payouts, 0.00.\n")


def test_payouts_run_sums_each_currency_apart(runner):
    rub, usd = PayablePartnerFactory(), PayablePartnerFactory()
    credit(rub, "1000.00")
    credit(usd, "1000.50", "USD")
    result = invoke(runner, "run")
    assert result.output.splitlines()[-1] == "Total: 2 payouts, 1000.00 RUB + 1000.50 USD."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-amount", "abc"], "--min-amount"),
        (["--min-amount", "-5"], "--min-amount"),
        (["--min-amount", "0"], "--min-amount"),
        (["--min-amount", "10.001"], "--min-amount"),
        (["--min-amount", "NaN"], "--min-amount"),
        (["--min-amount", "1e999999"], "--min-amount"),
        (["--currency", "RUBLES"], "--currency"),
        (["--currency", "XYZ"], "--currency"),
    ],
)
def test_payouts_run_refuses_bad_options_and_pays_nothing(runner, args, message):
    partner = PayablePartnerFactory()
    credit(partner, "5000.00")
    result = invoke(runner, "run", *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    db.session.expire_all()
    assert db.session.scalars(select(Payout)).all() == []


# list ------------------------------------------------------------------------------------


def test_payouts_list_shows_payouts_newest_first_and_filters_by_status(runner):
    first, second = PayablePartnerFactory(name="First"), PayablePartnerFactory(name="Second")
    credit(first, "1000.00")
    invoke(runner, "run")
    credit(second, "2000.00")
    invoke(runner, "run")
    older, newer = payout_of(first), payout_of(second)
    invoke(runner, "mark-paid", str(older.id), "--reference", "PP-7")
    lines = invoke(runner, "list").output.splitlines()
    assert lines[-1] == "2 payouts."
    assert [int(line.split()[0]) for line in lines[:-1]] == [newer.id, older.id]
    assert "pending" in lines[0] and "2000.00 RUB" in lines[0] and "(Second)" in lines[0]
    assert "paid" in lines[1] and "reference PP-7" in lines[1] and "card **** 1111" in lines[1]
    pending = invoke(runner, "list", "--status", "pending").output.splitlines()
    assert [int(line.split()[0]) for line in pending[:-1]] == [newer.id]
    assert pending[-1] == "1 payout."


def test_payouts_list_refuses_an_unknown_status(runner):
    result = invoke(runner, "list", "--status", "lost")
    assert result.exit_code == 2 and "--status" in result.output


# export ----------------------------------------------------------------------------------


def test_payouts_export_prints_the_same_registry_as_the_api(runner, client, admin_headers):
    partner = PayablePartnerFactory(name="=cmd")
    credit(partner, "1000.00")
    invoke(runner, "run")
    result = invoke(runner, "export")
    assert result.exit_code == 0, result.output
    api = client.get("/api/v1/payouts/export.csv", headers=admin_headers).get_data(as_text=True)
    assert result.stdout_bytes.decode() == api  # `output` would turn CRLF into LF
    (row,) = csv.DictReader(io.StringIO(result.output))
    assert (row["partner"], row["card_number"], row["amount"]) == (
        "'=cmd", "4111111111111111", "1000.00")  # fmt: skip


def test_payouts_export_writes_a_file_of_a_status(runner, tmp_path):
    partner = PayablePartnerFactory()
    credit(partner, "1000.00")
    invoke(runner, "run")
    invoke(runner, "mark-paid", str(payout_of(partner).id), "--reference", "PP-1")
    target = tmp_path / "paid.csv"
    result = invoke(runner, "export", "--status", "paid", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"Wrote 1 paid payout to {target}." in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [row["payment_reference"] for row in rows] == [str(payout_of(partner).id)]
    empty = invoke(runner, "export").output  # none pending now: the header alone
    assert empty.splitlines() == [target.read_text(encoding="utf-8").splitlines()[0]]


def test_payouts_export_to_an_unwritable_place_is_a_message(runner, tmp_path):
    result = invoke(runner, "export", "--output", str(tmp_path / "missing" / "x.csv"))
    assert result.exit_code == 1
    assert "Cannot write" in result.output and "Traceback" not in result.output


# mark-paid and mark-failed ------------------------------------------------------------------


def test_payouts_mark_paid_records_the_reference_and_the_cli_as_actor(runner):
    partner = PayablePartnerFactory()
    credit(partner, "1234.56")
    invoke(runner, "run")
    payout = payout_of(partner)
    result = invoke(runner, "mark-paid", str(payout.id), "--reference", " PP-2026-1 ")
    assert result.exit_code == 0, result.output
    assert result.output == f"Payout {payout.id} is paid: 1234.56 RUB, reference PP-2026-1.\n"
    payout = payout_of(partner)
    assert (payout.status, payout.reference, payout.paid_at) == ("paid", "PP-2026-1", T0)
    actions = db.session.execute(
        select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity == "payout")
    ).all()
    assert sorted(actions) == [("created", "cli"), ("paid", "cli")]


def test_payouts_mark_failed_returns_the_amount_to_the_balance(runner):
    partner = PayablePartnerFactory()
    credit(partner, "1000.00")
    invoke(runner, "run")
    payout = payout_of(partner)
    result = invoke(runner, "mark-failed", str(payout.id), "--reason", "account closed")
    assert result.exit_code == 0, result.output
    assert "failed (account closed)" in result.output
    assert payout_of(partner).status == "failed"
    assert ledger.balances(db.session, partner.id)["RUB"]["unpaid"] == 1000


@pytest.mark.parametrize("command", ["mark-paid", "mark-failed"])
@pytest.mark.parametrize("payout_id", ["999999", "0", "99999999999999999999"])
def test_marking_an_unknown_payout_is_a_message_and_exit_1(runner, command, payout_id):
    option = "--reference" if command == "mark-paid" else "--reason"
    result = invoke(runner, command, payout_id, option, "x")
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (["mark-paid", "--reference", "PP-1"], ["mark-paid", "--reference", "PP-2"],
         "A paid payout cannot become paid."),
        (["mark-paid", "--reference", "PP-1"], ["mark-failed", "--reason", "late"],
         "A paid payout cannot become failed."),
        (["mark-failed", "--reason", "closed"], ["mark-paid", "--reference", "PP-1"],
         "A failed payout cannot become paid."),
    ],
)  # fmt: skip
def test_a_settled_payout_cannot_be_settled_again(runner, first, then, message):
    partner = PayablePartnerFactory()
    credit(partner, "1000.00")
    invoke(runner, "run")
    payout_id = str(payout_of(partner).id)
    assert invoke(runner, first[0], payout_id, *first[1:]).exit_code == 0
    result = invoke(runner, then[0], payout_id, *then[1:])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert payout_of(partner).reference in (None, "PP-1")


@pytest.mark.parametrize(
    "args",
    [
        ["mark-paid", "1"],  # no reference
        ["mark-paid", "1", "--reference", "   "],
        ["mark-paid", "1", "--reference", "x" * 201],
        ["mark-paid", "one", "--reference", "PP-1"],
        ["mark-failed", "1"],
        ["mark-failed", "1", "--reason", ""],
    ],
)
def test_marking_with_bad_input_is_a_usage_error(runner, args):
    partner = PayablePartnerFactory()
    credit(partner, "1000.00")
    invoke(runner, "run")
    args = [str(payout_of(partner).id) if a == "1" else a for a in args]
    result = invoke(runner, *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert payout_of(partner).status == "pending"


def test_a_payout_run_from_the_cli_pays_approved_conversions(runner, session):
    offer = OfferFactory()
    partner = PayablePartnerFactory()
    commission_rules.create(session, {"offer_id": offer.id, "type": "sale", "kind": "percent",
                                      "value": Decimal("10")}, actor="tests")  # fmt: skip
    body = {"offer_id": offer.id, "order_id": "CLI-1", "amount": Decimal("20000.00"),
            "utm_source": partner.ref_code}  # fmt: skip
    made = conversions.record(db.engine, body, actor="tests", secret="s", now=T0).conversion
    conversions.approve(session, made.id, actor="tests")
    result = invoke(runner, "run")
    assert "2000.00 RUB, 1 conversion, to card **** 1111" in result.output
