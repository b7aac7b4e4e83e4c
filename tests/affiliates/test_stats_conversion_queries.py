"""Conversion figures in stats: read in proportion to what the filters select (never the
whole click log or ledger), and live (a status change shows in the next answer)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import event

from affiliates.extensions import db
from affiliates.services import stats
from tests.factories import OfferFactory, PayablePartnerFactory
from tests.helpers import T0, sale

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.usefixtures("clock")


def get_totals(client, headers, **query) -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/stats", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def percent_rule(client, headers, offer) -> None:  # type: ignore[no-untyped-def]
    terms = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"}
    assert client.post("/api/v1/commission-rules", headers=headers, json=terms).status_code == 201


def pay_everything(client, headers) -> None:  # type: ignore[no-untyped-def]
    run = client.post("/api/v1/payouts/run", json={"min_amount": "1.00"}, headers=headers)
    assert run.status_code == 201, run.get_json()
    for payout in run.get_json()["items"]:
        paid = client.post(f"/api/v1/payouts/{payout['id']}/mark-paid",
                           json={"reference": f"PP-{payout['id']}"}, headers=headers)  # fmt: skip
        assert paid.status_code == 200, paid.get_json()


def test_each_status_change_of_a_conversion_shows_in_the_next_stats_answer(client, admin_headers):
    offer, partner = OfferFactory(), PayablePartnerFactory()
    percent_rule(client, admin_headers, offer)
    conversion = sale(client, admin_headers, offer, "L-1", "1000.00", partner=partner,
                      occurred_at=T0 - DAY)  # fmt: skip

    def money() -> tuple[str, str, str, str]:
        totals = get_totals(client, admin_headers, partner_id=partner.id)["totals"]
        return (totals["sales_amount"], totals["commission_pending"],
                totals["commission_approved"], totals["commission_paid"])  # fmt: skip

    assert money() == ("1000.00", "100.00", "0.00", "0.00")
    url = f"/api/v1/conversions/{conversion['id']}"
    assert client.post(f"{url}/approve", headers=admin_headers).status_code == 200
    assert money() == ("1000.00", "0.00", "100.00", "0.00")
    refund = client.post(f"{url}/refund", json={"amount": "400.00"}, headers=admin_headers)
    assert refund.status_code == 200, refund.get_json()
    left = refund.get_json()["commission"]
    assert money() == ("600.00", "0.00", left, "0.00")
    pay_everything(client, admin_headers)
    assert money() == ("600.00", "0.00", "0.00", left)


def test_paid_commission_counts_only_for_the_partner_and_the_period_asked(client, admin_headers):
    offer, anna, boris = OfferFactory(), PayablePartnerFactory(), PayablePartnerFactory()
    percent_rule(client, admin_headers, offer)
    early = sale(client, admin_headers, offer, "E-1", "1000.00", partner=anna,
                 occurred_at=T0 - 5 * DAY)  # fmt: skip
    late = sale(client, admin_headers, offer, "E-2", "2000.00", partner=anna,
                occurred_at=T0 - DAY)  # fmt: skip
    other = sale(client, admin_headers, offer, "E-3", "4000.00", partner=boris,
                 occurred_at=T0 - DAY)  # fmt: skip
    for conversion in (early, late, other):
        approve = f"/api/v1/conversions/{conversion['id']}/approve"
        assert client.post(approve, headers=admin_headers).status_code == 200
    pay_everything(client, admin_headers)
    anna_totals = get_totals(client, admin_headers, partner_id=anna.id)["totals"]
    assert (anna_totals["commission_paid"], anna_totals["commission_approved"]) == (
        "300.00", "0.00")  # fmt: skip
    last_days = get_totals(client, admin_headers, partner_id=anna.id,
                           **{"from": (T0 - 2 * DAY).date().isoformat()})["totals"]  # fmt: skip
    assert last_days["commission_paid"] == "200.00"
    by_day = get_totals(client, admin_headers, group_by="day")["rows"]
    paid = {row["key"]: (row["commission_paid"], row["commission_approved"]) for row in by_day}
    assert paid == {
        (T0 - 5 * DAY).date().isoformat(): ("100.00", "0.00"),
        (T0 - DAY).date().isoformat(): ("600.00", "0.00"),
    }
    # grouped by the click (these sales came by ref code: no link), all and one partner's
    by_link = get_totals(client, admin_headers, group_by="link")["rows"]
    assert [(row["key"], row["commission_paid"]) for row in by_link] == [(None, "700.00")]
    anna_by_link = get_totals(client, admin_headers, group_by="link", partner_id=anna.id)["rows"]
    assert [(row["key"], row["commission_paid"]) for row in anna_by_link] == [(None, "300.00")]


@pytest.mark.parametrize(
    ("group_by", "reads_clicks"),
    [(None, False), ("day", False), ("partner", False), ("offer", False),
     ("promo_code", False), ("link", True), ("sub_id", True), ("utm_campaign", True)],
)  # fmt: skip
def test_conversion_figures_read_the_click_log_only_for_a_grouping_by_the_click(
    app, session, group_by, reads_clicks
):
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        stats.conversion_figures(session, None, None, T0 - 30 * DAY, T0, group_by)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements
    assert any(re.search(r"\bclicks\b", sql) for sql in statements) is reads_clicks
