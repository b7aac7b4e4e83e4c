"""GET /api/v1/stats: conversions, net sales, commission by status, conversion rate and EPC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import update

from affiliates.models import Conversion
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import T0, add_click, iso, sale

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.usefixtures("clock")


def set_commission(session, conversion_id: int, value: str) -> None:
    """No commission rules exist yet: give the conversion a commission as a rule would."""
    session.execute(
        update(Conversion).where(Conversion.id == conversion_id).values(commission=Decimal(value))
    )
    session.commit()


def get_stats(client, headers, **query) -> dict:
    response = client.get("/api/v1/stats", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def program(client, session, admin_headers, conversions_headers):
    """One partner with four human clicks (and one bot), its conversions in every state,
    a promo-code sale, and an organic sale."""
    offer = OfferFactory()
    partner = PartnerFactory()
    link = LinkFactory(offer=offer, partner=partner)
    clicks = [add_click(session, link, T0 - 3 * DAY, visitor=n) for n in range(4)]
    add_click(session, link, T0 - 3 * DAY, visitor="bot", bot=True)
    code = PromoCodeFactory(offer=offer, partner=partner, code="SALE10")
    PromoCodeFactory(offer=offer, partner=partner, code="UNUSED")
    pending = sale(client, conversions_headers, offer, "c1", "1000.00", occurred_at=T0 - 2 * DAY,
                   click_id=clicks[0])  # fmt: skip
    approved = sale(client, conversions_headers, offer, "c2", "500.00", occurred_at=T0 - DAY,
                    click_id=clicks[1])  # fmt: skip
    reversed_ = sale(client, conversions_headers, offer, "c3", "700.00", occurred_at=T0 - DAY,
                     click_id=clicks[2])  # fmt: skip
    rejected = sale(client, conversions_headers, offer, "c4", "300.00", occurred_at=T0 - DAY,
                    click_id=clicks[3])  # fmt: skip
    by_code = sale(client, conversions_headers, offer, "c5", "400.00", occurred_at=T0,
                   promo_code="SALE10")  # fmt: skip
    sale(client, conversions_headers, offer, "organic", "250.00", occurred_at=T0)
    refund = f"/api/v1/conversions/{approved['id']}/refund"
    assert client.post(refund, json={"amount": "200.00"},
                       headers=conversions_headers).status_code == 200  # fmt: skip
    assert client.post(f"/api/v1/conversions/{approved['id']}/approve",
                       headers=admin_headers).status_code == 200  # fmt: skip
    assert client.post(f"/api/v1/conversions/{reversed_['id']}/refund",
                       headers=conversions_headers).status_code == 200  # fmt: skip
    assert client.post(f"/api/v1/conversions/{rejected['id']}/reject", json={"reason": "test"},
                       headers=admin_headers).status_code == 200  # fmt: skip
    for conversion, value in ((pending, "100.00"), (approved, "50.00"), (by_code, "40.00")):
        set_commission(session, conversion["id"], value)
    return {"offer": offer, "partner": partner, "link": link, "code": code}


def test_partner_totals_count_conversions_net_sales_and_commission_by_status(
    client, admin_headers, program
):
    totals = get_stats(client, admin_headers, partner_id=program["partner"].id)["totals"]
    assert (totals["clicks"], totals["bot_clicks"]) == (4, 1)
    assert totals["conversions"] == 3  # rejected and reversed are not counted
    assert totals["sales_amount"] == "1700.00"  # 1000 + (500 - 200 refunded) + 400
    assert totals["commission_pending"] == "140.00"
    assert totals["commission_approved"] == "50.00"
    assert totals["commission_paid"] == "0.00"
    assert Decimal(totals["conversion_rate"]) == Decimal("0.75")
    assert totals["epc"] == "47.50"  # 190.00 earned over 4 clicks


def test_organic_conversions_count_in_the_programs_totals_only(client, admin_headers, program):
    totals = get_stats(client, admin_headers)["totals"]
    assert (totals["conversions"], totals["sales_amount"]) == (4, "1950.00")
    by_offer = get_stats(client, admin_headers, offer_id=program["offer"].id)["totals"]
    assert by_offer["conversions"] == 4
    assert (
        get_stats(client, admin_headers, offer_id=OfferFactory().id)["totals"]["conversions"] == 0
    )


def test_a_partner_key_sees_only_its_own_conversion_figures(client, admin_headers, program):
    own = get_stats(client, bearer(partner_key(program["partner"])))["totals"]
    assert (own["conversions"], own["sales_amount"]) == (3, "1700.00")
    stranger = bearer(partner_key(PartnerFactory()))
    forced = get_stats(client, stranger, partner_id=program["partner"].id)["totals"]
    assert (forced["conversions"], forced["sales_amount"], forced["clicks"]) == (0, "0.00", 0)


def test_group_by_promo_code_puts_each_codes_sales_on_its_row(client, admin_headers, program):
    rows = {
        row["key"]: row
        for row in get_stats(
            client, admin_headers, partner_id=program["partner"].id, group_by="promo_code"
        )["rows"]  # fmt: skip
    }
    assert set(rows) == {"SALE10", "UNUSED", None}
    assert (rows["SALE10"]["conversions"], rows["SALE10"]["sales_amount"],
            rows["SALE10"]["commission_pending"]) == (1, "400.00", "40.00")  # fmt: skip
    assert (rows["UNUSED"]["conversions"], rows["UNUSED"]["sales_amount"]) == (0, "0.00")
    assert (rows[None]["conversions"], rows[None]["sales_amount"]) == (2, "1300.00")


def test_group_by_day_uses_the_day_each_conversion_occurred(client, admin_headers, program):
    rows = get_stats(client, admin_headers, partner_id=program["partner"].id,
                     group_by="day")["rows"]  # fmt: skip
    by_day = {row["key"]: (row["clicks"], row["conversions"], row["sales_amount"]) for row in rows}
    assert by_day == {
        "2026-03-07": (4, 0, "0.00"),
        "2026-03-08": (0, 1, "1000.00"),
        "2026-03-09": (0, 1, "300.00"),
        "2026-03-10": (0, 1, "400.00"),
    }
    assert [row["key"] for row in rows] == sorted(by_day, reverse=True)


def test_group_by_link_follows_each_conversions_click(client, admin_headers, program):
    rows = {
        row["key"]: row
        for row in get_stats(
            client, admin_headers, partner_id=program["partner"].id, group_by="link"
        )["rows"]  # fmt: skip
    }
    link_row = rows[str(program["link"].id)]
    assert (link_row["clicks"], link_row["conversions"], link_row["sales_amount"]) == (
        4, 2, "1300.00")  # fmt: skip
    assert Decimal(link_row["conversion_rate"]) == Decimal("0.5")
    assert (rows[None]["conversions"], rows[None]["sales_amount"]) == (1, "400.00")


def test_the_period_filters_conversions_by_when_they_occurred(client, admin_headers, program):
    partner_id = program["partner"].id
    day = get_stats(client, admin_headers, partner_id=partner_id,
                    **{"from": "2026-03-09", "to": "2026-03-10T00:00:00Z"})["totals"]  # fmt: skip
    assert (day["conversions"], day["sales_amount"], day["commission_approved"]) == (
        1, "300.00", "50.00")  # fmt: skip
    since = get_stats(client, admin_headers, partner_id=partner_id,
                      **{"from": iso(T0 - DAY - dt.timedelta(hours=1))})["totals"]  # fmt: skip
    assert (since["conversions"], since["sales_amount"]) == (2, "700.00")


def test_conversion_rate_and_epc_are_zero_without_clicks(
    client, admin_headers, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory()
    body = sale(client, conversions_headers, offer, "u1", "100.00", occurred_at=T0,
                utm_source=partner.ref_code)  # fmt: skip
    totals = get_stats(client, admin_headers, partner_id=partner.id)["totals"]
    assert (totals["clicks"], totals["conversions"]) == (0, 1)
    assert Decimal(totals["conversion_rate"]) == 0
    assert totals["epc"] == "0.00"
    assert body["partner_id"] == partner.id
