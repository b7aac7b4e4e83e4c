"""`affiliates import-orders FILE.csv --offer ID`: offline sales through the same intake."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from affiliates.models import AuditEntry, Conversion, PromoCode, Refund
from tests.factories import OfferFactory, PartnerFactory, PromoCodeFactory

pytestmark = pytest.mark.usefixtures("clock")


def write(tmp_path, text: str, name: str = "orders.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(runner, path: str, offer_id: int, *extra: str):
    return runner.invoke(args=["import-orders", path, "--offer", str(offer_id), *extra])


def conversions(session) -> list[Conversion]:
    session.expire_all()
    return list(session.scalars(select(Conversion).order_by(Conversion.order_id)))


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


MIXED = """order_id,amount,customer_id,occurred_at
R-1,1499.00,c1,2026-03-01T10:00:00Z
R-2,not-money,c2,
,100.00,c3,
R-4,-5.00,c4,
R-5,250.50,c5,2026-03-02
R-6,10.00,c6,2027-01-01T00:00:00Z
"""


def test_bad_rows_are_reported_by_line_number_and_the_good_rows_land(runner, session, tmp_path):
    offer = OfferFactory()
    result = run(runner, write(tmp_path, MIXED), offer.id)
    assert result.exit_code == 0, result.output
    assert "3 imported, 0 already known, 3 rejected (of 6 rows)." in result.stdout
    reported = [line.split(":")[0] for line in result.stderr.splitlines()]
    assert reported == ["line 3", "line 4", "line 5", "line 7"]
    assert "amount" in result.stderr.splitlines()[0]
    # a timestamp in the future is an optional field dropped: the row lands, warned
    assert result.stderr.splitlines()[3].startswith("line 7: warning: occurred_at: ")
    landed = conversions(session)
    assert [(c.order_id, f"{c.amount}", c.source, c.status) for c in landed] == [
        ("R-1", "1499.00", "import", "pending"),
        ("R-5", "250.50", "import", "pending"),
        ("R-6", "10.00", "import", "pending"),
    ]
    assert [w["field"] for w in landed[2].warnings] == ["occurred_at"]
    assert landed[0].occurred_at == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_a_reimport_changes_nothing(runner, session, tmp_path):
    offer = OfferFactory()
    path = write(tmp_path, MIXED)
    run(runner, path, offer.id)
    counts = (count(session, Conversion), count(session, AuditEntry))
    again = run(runner, path, offer.id)
    assert again.exit_code == 0
    assert "0 imported, 3 already known, 3 rejected (of 6 rows)." in again.stdout
    assert (count(session, Conversion), count(session, AuditEntry)) == counts == (3, 3)


def test_a_reimported_order_with_another_amount_is_reported_not_changed(runner, session, tmp_path):
    offer = OfferFactory()
    run(runner, write(tmp_path, "order_id,amount\nR-1,100.00\n"), offer.id)
    result = run(runner, write(tmp_path, "order_id,amount\nR-1,200.00\nR-2,5.00\n", "b.csv"),
                 offer.id)  # fmt: skip
    assert result.exit_code == 0
    assert result.stderr.startswith("line 2: amount:")
    assert [(c.order_id, f"{c.amount}") for c in conversions(session)] == [
        ("R-1", "100.00"), ("R-2", "5.00")]  # fmt: skip


@pytest.mark.parametrize(
    "text", ["amount,customer_id\n100.00,c1\n", "order_id;amount\nR-1;100.00\n", "order_id\nR-1\n"]
)
def test_a_missing_required_column_is_an_error_exit_and_imports_nothing(
    runner, session, tmp_path, text
):
    offer = OfferFactory()
    result = run(runner, write(tmp_path, text), offer.id)
    assert result.exit_code != 0
    assert "Missing required column" in result.output
    assert count(session, Conversion) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\xff\xfe\x00\x00garbage\xff", "not a readable CSV")],
)
def test_an_unreadable_file_is_an_error_exit(runner, session, tmp_path, content, message):
    offer = OfferFactory()
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = run(runner, str(path), offer.id)
    assert result.exit_code != 0
    assert message in result.output
    assert count(session, Conversion) == 0


def test_an_unknown_offer_or_missing_file_is_an_error_exit(runner, session, tmp_path):
    path = write(tmp_path, "order_id,amount\nR-1,1.00\n")
    assert run(runner, path, 10**6).exit_code != 0
    assert run(runner, str(tmp_path / "nope.csv"), OfferFactory().id).exit_code != 0
    assert count(session, Conversion) == 0


def test_promo_codes_in_the_csv_attribute_offline_sales(runner, session, tmp_path):
    offer = OfferFactory()
    partner = PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=partner, code="STORE15", max_uses=2)
    text = (
        "promo_code, amount ,order_id,type,currency\n"
        "store15,1000.00,S-1,sale,rub\n"
        "STORE15,2000.00,S-2,,\n"
        "STORE15,3000.00,S-3,sale,RUB\n"
        ",4000.00,S-4,,\n"
    )
    result = run(runner, write(tmp_path, text), offer.id)
    assert result.exit_code == 0, result.output
    assert "4 imported" in result.stdout
    by_order = {c.order_id: c for c in conversions(session)}
    assert [by_order[o].partner_id for o in ("S-1", "S-2")] == [partner.id, partner.id]
    assert {by_order[o].attribution for o in ("S-1", "S-2")} == {"promo_code"}
    assert by_order["S-3"].partner_id is None  # the code is exhausted after two uses
    assert any("exhausted" in line for line in by_order["S-3"].explanation)
    assert by_order["S-4"].partner_id is None
    assert session.get_one(PromoCode, code.id).uses == 2


def test_line_numbers_stay_right_across_chunks(runner, session, tmp_path):
    offer = OfferFactory()
    lines = ["order_id,amount"] + [
        f"R-{n},{'oops' if n % 4 == 0 else '1.00'}" for n in range(1, 11)
    ]
    result = run(runner, write(tmp_path, "\n".join(lines) + "\n"), offer.id, "--chunk-size", "3")
    assert result.exit_code == 0, result.output
    # rows 4 and 8 are bad; the header is line 1, so they sit on lines 5 and 9
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["line 5", "line 9"]
    assert count(session, Conversion) == 8


def test_imported_rows_go_through_the_same_attribution_and_audit_as_the_api(
    runner, session, tmp_path
):
    offer = OfferFactory()
    partner = PartnerFactory(email="owner@example.com")
    PromoCodeFactory(offer=offer, partner=partner, code="MINE")
    text = "order_id,amount,promo_code,customer_email\nR-1,100.00,MINE,owner@example.com\n"
    assert run(runner, write(tmp_path, text), offer.id).exit_code == 0
    (conversion,) = conversions(session)
    assert (conversion.status, conversion.reason) == ("rejected", "self_referral")
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor) == ("created", "import-orders")


def test_blank_lines_and_rows_with_too_many_fields_keep_line_numbers_right(
    runner, session, tmp_path
):
    offer = OfferFactory()
    text = "order_id,amount\nR-1,1.00\n\nR-3,2.00,surplus\nR-4,oops\n\nR-6,3.00\n"
    result = run(runner, write(tmp_path, text), offer.id, "--chunk-size", "2")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["line 4", "line 5"]
    assert "expected 2 fields, saw 3" in result.stderr
    assert "2 imported, 0 already known, 2 rejected (of 4 rows)." in result.stdout
    assert [c.order_id for c in conversions(session)] == ["R-1", "R-6"]


# Refund rows -----------------------------------------------------------------------------

SALES_AND_REFUNDS = """order_id,amount,type,refund_id,customer_id
S-1,1000.00,sale,,c1
S-2,500.00,,,c2
S-1,100.00,refund,RF-1,c1
S-1,50.00,Refund,RF-2,
S-2,,refund,RF-3,
"""


def test_a_refund_with_a_refund_id_is_applied_once_however_often_it_is_sent_by_file(
    runner, session, tmp_path
):
    offer = OfferFactory()
    path = write(tmp_path, SALES_AND_REFUNDS)
    first = run(runner, path, offer.id)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (
        "2 imported, 0 already known, 0 rejected (of 5 rows)."
        " Refunds: 3 applied, 0 already applied."
    )
    counts = (count(session, Refund), count(session, AuditEntry))
    again = run(runner, path, offer.id)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == (
        "0 imported, 2 already known, 0 rejected (of 5 rows)."
        " Refunds: 0 applied, 3 already applied."
    )
    one, two = conversions(session)
    assert (one.refunded_amount, one.status) == (Decimal("150.00"), "pending")
    assert (two.refunded_amount, two.status) == (Decimal("500.00"), "reversed")  # empty: the rest
    assert (count(session, Refund), count(session, AuditEntry)) == counts == (3, 5)


def test_a_refund_row_needs_a_refund_id_a_known_sale_and_a_positive_amount(
    runner, session, tmp_path
):
    offer = OfferFactory()
    run(runner, write(tmp_path, "order_id,amount\nS-1,100.00\n"), offer.id)
    rows = """order_id,amount,type,refund_id
S-1,10.00,refund,
S-9,10.00,refund,RF-1
S-1,-10.00,refund,RF-2
S-1,200.00,refund,RF-3
S-2,10.00,sale,RF-4
S-1,10.00,refund,RF-5
"""
    result = run(runner, write(tmp_path, rows, "refunds.csv"), offer.id)
    assert result.exit_code == 0, result.output
    fields = [line.split(": ")[:2] for line in result.stderr.splitlines()]
    assert fields == [["line 2", "refund_id"], ["line 3", "order_id"], ["line 4", "amount"],
                      ["line 5", "amount"], ["line 6", "refund_id"]]  # fmt: skip
    assert "Refunds: 1 applied" in result.stdout
    assert [c.refunded_amount for c in conversions(session)] == [Decimal("10.00")]


def test_a_refund_row_repeated_in_a_file_with_another_amount_is_reported_not_applied(
    runner, session, tmp_path
):
    offer = OfferFactory()
    rows = "order_id,amount,type,refund_id\nS-1,100.00,,\nS-1,10.00,refund,R\nS-1,20.00,refund,R\n"
    result = run(runner, write(tmp_path, rows), offer.id)
    assert result.stderr.startswith("line 4: amount:")
    assert [c.refunded_amount for c in conversions(session)] == [Decimal("10.00")]


def test_the_import_orders_help_says_how_a_refund_row_is_written(runner):
    result = runner.invoke(args=["import-orders", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert 'A row of type "refund" refunds the sale with its order_id' in text
    assert "It must carry a refund_id" in text


def test_an_imported_row_with_an_unusable_optional_field_lands_without_it(
    runner, session, tmp_path
):
    offer = OfferFactory()
    text = "order_id,amount,customer_email,promo_code\nR-1,100.00,john@corp.local,no way\n"
    result = run(runner, write(tmp_path, text), offer.id)
    assert "1 imported, 0 already known, 0 rejected (of 1 rows)." in result.stdout
    lines = result.stderr.splitlines()
    assert [line.split(": ")[:3] for line in lines] == [
        ["line 2", "warning", "customer_email"],
        ["line 2", "warning", "promo_code"],
    ]
    (conversion,) = conversions(session)
    assert [w["field"] for w in conversion.warnings] == ["customer_email", "promo_code"]
