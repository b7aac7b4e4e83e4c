"""GET /api/v1/stats: clicks, unique and bot clicks, grouped and filtered."""

from __future__ import annotations

import datetime as dt

import pytest

from affiliates.services import stats as stats_service
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import T0, add_clicks

HOUR = dt.timedelta(hours=1)
ZERO_MONEY = ("sales_amount", "commission_pending", "commission_approved", "commission_paid")


def get_stats(client, headers, **query):
    response = client.get("/api/v1/stats", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def totals(client, headers, **query):
    return get_stats(client, headers, **query)["totals"]


def counts(figures):
    return (figures["clicks"], figures["unique_clicks"], figures["bot_clicks"])


# Totals ----------------------------------------------------------------------------------


def test_empty_program_has_zero_totals_and_no_rows(client, admin_headers):
    data = get_stats(client, admin_headers)
    assert data["rows"] == []
    assert data["totals"] == {
        "clicks": 0,
        "unique_clicks": 0,
        "bot_clicks": 0,
        "conversions": 0,
        "sales_amount": "0.00",
        "commission_pending": "0.00",
        "commission_approved": "0.00",
        "commission_paid": "0.00",
        "conversion_rate": "0.0000",
        "epc": "0.00",
        "new_customers": 0,
        "cost_per_new_customer": None,
        "target_cac": None,
    }


def test_totals_count_human_clicks_and_bots_apart(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, T0, visitor="a")
    add_clicks(session, link, T0 + HOUR, visitor="b")
    add_clicks(session, link, T0 + 2 * HOUR, visitor="c")
    add_clicks(session, link, T0, T0 + HOUR, visitor="crawler", bot=True)
    data = totals(client, admin_headers)
    assert counts(data) == (3, 3, 2)
    assert data["conversions"] == 0
    for name in ZERO_MONEY:
        assert data[name] == "0.00"
    assert data["conversion_rate"] == "0.0000"
    assert data["epc"] == "0.00"


# Unique clicks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gaps_in_hours", "unique"),
    [
        ([1], 1),  # two clicks an hour apart: one visit
        ([25], 2),  # a day and an hour apart: two
        ([24], 2),  # exactly a day apart: a new window
        ([23.99], 1),
        ([0, 0, 0], 1),  # the same instant, several times
        ([5, 5, 5, 30, 1], 2),
    ],
)
def test_unique_clicks_are_first_clicks_of_a_visitor_on_a_link_per_24_hours(
    client, session, admin_headers, gaps_in_hours, unique
):
    link = LinkFactory()
    times = [T0]
    for gap in gaps_in_hours:
        times.append(times[-1] + dt.timedelta(hours=gap))
    add_clicks(session, link, *times)
    assert counts(totals(client, admin_headers)) == (len(times), unique, 0)


def test_exactly_a_day_apart_with_microseconds_is_a_new_unique_click(
    client, session, admin_headers
):
    link = LinkFactory()
    first = T0.replace(microsecond=123456)
    add_clicks(session, link, first, first + dt.timedelta(days=1))
    assert counts(totals(client, admin_headers)) == (2, 2, 0)


def test_a_visitor_is_unique_per_link_and_per_ip_and_agent(client, session, admin_headers):
    link, other_link = LinkFactory(), LinkFactory()
    add_clicks(session, link, T0, visitor="a")
    add_clicks(session, other_link, T0 + HOUR, visitor="a")  # another link: unique again
    add_clicks(session, link, T0 + HOUR, visitor="b")  # another visitor on the same link
    add_clicks(session, link, T0 + 2 * HOUR, visitor="a")  # a repeat
    assert counts(totals(client, admin_headers)) == (4, 3, 0)


def test_bot_clicks_are_neither_clicks_nor_unique_and_do_not_hide_a_visitor(
    client, session, admin_headers
):
    link = LinkFactory()
    add_clicks(session, link, T0, visitor="a", bot=True)
    add_clicks(session, link, T0 + HOUR, visitor="a")
    add_clicks(session, link, T0 + 2 * HOUR, visitor="a", bot=True)
    assert counts(totals(client, admin_headers)) == (1, 1, 2)


def test_a_click_just_before_the_period_makes_the_first_one_in_it_a_repeat(session):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + 23 * HOUR)
    day_two = (T0 + dt.timedelta(days=1)).replace(hour=0)
    data = stats_service.stats(session, start=day_two)
    assert counts(data["totals"]) == (1, 0, 0)


def test_from_is_inclusive_and_to_is_exclusive_for_datetimes(session):
    link = LinkFactory()
    add_clicks(session, link, T0 - dt.timedelta(seconds=1), visitor="before")
    add_clicks(session, link, T0, visitor="at-from")
    add_clicks(session, link, T0 + HOUR - dt.timedelta(microseconds=1), visitor="inside")
    add_clicks(session, link, T0 + HOUR, visitor="at-to")
    data = stats_service.stats(session, start=T0, end=T0 + HOUR)
    assert counts(data["totals"]) == (2, 2, 0)


def test_dates_cover_whole_utc_days(session):
    link = LinkFactory()
    add_clicks(session, link, dt.datetime(2026, 3, 9, 23, 59, 59, tzinfo=dt.UTC), visitor="a")
    add_clicks(session, link, dt.datetime(2026, 3, 10, 0, 0, tzinfo=dt.UTC), visitor="b")
    add_clicks(session, link, dt.datetime(2026, 3, 11, 23, 59, 59, tzinfo=dt.UTC), visitor="c")
    add_clicks(session, link, dt.datetime(2026, 3, 12, 0, 0, tzinfo=dt.UTC), visitor="d")
    data = stats_service.stats(session, start=dt.date(2026, 3, 10), end=dt.date(2026, 3, 11))
    assert data["totals"]["clicks"] == 2


def test_the_api_to_datetime_is_exclusive(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, T0 + HOUR - dt.timedelta(microseconds=1), visitor="inside")
    add_clicks(session, link, T0 + HOUR, visitor="at-to")
    assert totals(client, admin_headers, to=(T0 + HOUR).isoformat())["clicks"] == 1
    # an offset is read as UTC: 15:00+03:00 is 12:00Z
    assert totals(client, admin_headers, to="2026-03-10T15:00:00+03:00")["clicks"] == 0
    assert totals(client, admin_headers, to="2026-03-10T16:00:00+03:00")["clicks"] == 1


def test_the_api_from_datetime_is_inclusive(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, T0 - dt.timedelta(seconds=1), visitor="before")
    add_clicks(session, link, T0, visitor="at-from")
    data = totals(client, admin_headers, **{"from": "2026-03-10T15:00:00+03:00"})
    assert counts(data) == (1, 1, 0)


def test_the_api_from_date_starts_at_midnight_utc(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, dt.datetime(2026, 3, 9, 23, 59, 59, tzinfo=dt.UTC), visitor="a")
    add_clicks(session, link, dt.datetime(2026, 3, 10, 0, 0, tzinfo=dt.UTC), visitor="b")
    assert totals(client, admin_headers, **{"from": "2026-03-10"})["clicks"] == 1


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"from": "2026-03-10T12:00:00Z", "to": "2026-03-10T12:00:00Z"},
        {"from": "2026-03-11", "to": "2026-03-10T00:00:00Z"},
    ],
)
def test_the_api_refuses_a_bad_from(client, admin_headers, query):
    response = client.get("/api/v1/stats", query_string=query, headers=admin_headers)
    assert response.status_code == 422


def test_the_api_to_date_includes_that_whole_day(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, dt.datetime(2026, 3, 11, 23, 59, 59, tzinfo=dt.UTC), visitor="a")
    add_clicks(session, link, dt.datetime(2026, 3, 12, 0, 0, tzinfo=dt.UTC), visitor="b")
    assert totals(client, admin_headers, to="2026-03-11")["clicks"] == 1


def test_partner_and_offer_filters(client, session, admin_headers):
    mine, theirs = PartnerFactory(), PartnerFactory()
    offer, other_offer = OfferFactory(), OfferFactory()
    add_clicks(session, LinkFactory(partner=mine, offer=offer), T0, visitor="a")
    add_clicks(session, LinkFactory(partner=mine, offer=other_offer), T0, visitor="b")
    add_clicks(session, LinkFactory(partner=theirs, offer=offer), T0, T0 + HOUR, visitor="c")
    assert totals(client, admin_headers)["clicks"] == 4
    assert totals(client, admin_headers, partner_id=mine.id)["clicks"] == 2
    assert totals(client, admin_headers, offer_id=offer.id)["clicks"] == 3
    assert totals(client, admin_headers, partner_id=mine.id, offer_id=offer.id)["clicks"] == 1
    assert totals(client, admin_headers, partner_id=999_999)["clicks"] == 0


def test_a_partner_key_sees_only_its_own_stats_whatever_it_asks(client, session):
    mine, theirs = PartnerFactory(), PartnerFactory()
    add_clicks(session, LinkFactory(partner=mine), T0, visitor="a")
    add_clicks(session, LinkFactory(partner=theirs), T0, T0 + HOUR, T0 + 2 * HOUR, visitor="b")
    headers = bearer(partner_key(mine))
    assert totals(client, headers)["clicks"] == 1
    assert totals(client, headers, partner_id=theirs.id)["clicks"] == 1
    rows = get_stats(client, headers, partner_id=theirs.id, group_by="link")["rows"]
    assert len(rows) == 1 and rows[0]["clicks"] == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"group_by": "week"}, 422),
        ({"to": "2026-13-01"}, 422),
        ({"partner_id": "abc"}, 422),
        ({"partner_id": "0"}, 422),
        ({"offer_id": "1.5"}, 422),
    ],
)
def test_bad_queries_are_problems_naming_the_field(client, admin_headers, query, status):
    response = client.get("/api/v1/stats", query_string=query, headers=admin_headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]


def test_stats_need_a_key_with_the_right_scope(client, conversions_headers):
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/api/v1/stats", headers=bearer("aff_nope_nope")).status_code == 401
    assert client.get("/api/v1/stats", headers=conversions_headers).status_code == 403


# Groups ----------------------------------------------------------------------------------


def test_group_by_day_gives_utc_days_newest_first(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, dt.datetime(2026, 3, 9, 23, 59, tzinfo=dt.UTC), visitor="a")
    add_clicks(session, link, dt.datetime(2026, 3, 10, 0, 1, tzinfo=dt.UTC), visitor="a")
    add_clicks(session, link, dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC), visitor="b")
    add_clicks(session, link, dt.datetime(2026, 3, 12, 9, 0, tzinfo=dt.UTC), visitor="b")
    add_clicks(session, link, dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC), visitor="x",
               bot=True)  # fmt: skip
    data = get_stats(client, admin_headers, group_by="day")
    rows = {row["key"]: counts(row) for row in data["rows"]}
    assert [row["key"] for row in data["rows"]] == ["2026-03-12", "2026-03-10", "2026-03-09"]
    assert rows == {
        "2026-03-12": (1, 1, 1),
        "2026-03-10": (2, 1, 0),  # visitor a came back two minutes after midnight
        "2026-03-09": (1, 1, 0),
    }
    assert counts(data["totals"]) == (4, 3, 1)


def test_group_by_link_keys_rows_by_link_id(client, session, admin_headers):
    first, second = LinkFactory(), LinkFactory()
    add_clicks(session, first, T0, T0 + HOUR, visitor="a")
    add_clicks(session, second, T0, visitor="a")
    add_clicks(session, second, T0, visitor="b", bot=True)
    data = get_stats(client, admin_headers, group_by="link")
    rows = {row["key"]: counts(row) for row in data["rows"]}
    assert rows == {str(first.id): (2, 1, 0), str(second.id): (1, 1, 1)}
    for row in data["rows"]:
        assert row["conversions"] == 0
        assert all(row[name] == "0.00" for name in ZERO_MONEY)
        assert row["epc"] == "0.00" and row["conversion_rate"] == "0.0000"


def test_group_by_utm_campaign_and_sub_id(client, session, admin_headers):
    link = LinkFactory(sub_id=None)
    add_clicks(session, link, T0, visitor="a", utm_campaign="spring", sub_id="yt")
    add_clicks(session, link, T0 + HOUR, visitor="b", utm_campaign="spring", sub_id="tg")
    add_clicks(session, link, T0 + HOUR, visitor="c", utm_campaign="autumn", sub_id=None)
    by_campaign = get_stats(client, admin_headers, group_by="utm_campaign")["rows"]
    assert {row["key"]: row["clicks"] for row in by_campaign} == {"spring": 2, "autumn": 1}
    by_sub_id = get_stats(client, admin_headers, group_by="sub_id")["rows"]
    assert {row["key"]: row["clicks"] for row in by_sub_id} == {"yt": 1, "tg": 1, None: 1}
    assert by_sub_id[-1]["key"] is None  # the clicks without a sub_id come last


def test_unique_clicks_are_judged_per_link_not_per_group(client, session, admin_headers):
    link = LinkFactory()
    add_clicks(session, link, T0, visitor="a", utm_campaign="spring")
    add_clicks(session, link, T0 + HOUR, visitor="a", utm_campaign="autumn")
    rows = get_stats(client, admin_headers, group_by="utm_campaign")["rows"]
    assert {row["key"]: counts(row) for row in rows} == {
        "spring": (1, 1, 0),
        "autumn": (1, 0, 0),
    }


def test_group_by_promo_code_lists_the_codes_with_their_conversion_figures(
    client, session, admin_headers
):
    partner, other = PartnerFactory(), PartnerFactory()
    offer = OfferFactory()
    PromoCodeFactory(code="ANNA10", partner=partner, offer=offer)
    PromoCodeFactory(code="OTHER5", partner=other, offer=offer)
    add_clicks(session, LinkFactory(partner=partner, offer=offer), T0)
    data = get_stats(client, admin_headers, group_by="promo_code", partner_id=partner.id)
    assert [row["key"] for row in data["rows"]] == ["ANNA10"]
    assert data["rows"][0]["conversions"] == 0
    assert data["rows"][0]["sales_amount"] == "0.00"
    assert data["totals"]["clicks"] == 1
    everyone = get_stats(client, admin_headers, group_by="promo_code")
    assert sorted(row["key"] for row in everyone["rows"]) == ["ANNA10", "OTHER5"]


def test_groups_add_up_to_the_totals(client, session, admin_headers):
    links = [LinkFactory(), LinkFactory()]
    for index in range(12):
        add_clicks(
            session,
            links[index % 2],
            T0 + dt.timedelta(hours=7 * index),
            visitor=f"v{index % 3}",
            bot=index % 5 == 0,
            utm_campaign=f"c{index % 4}",
            sub_id=None if index % 3 else f"s{index % 2}",
        )
    plain = counts(totals(client, admin_headers))
    for group in ("day", "link", "utm_campaign", "sub_id"):
        data = get_stats(client, admin_headers, group_by=group)
        assert counts(data["totals"]) == plain
        summed = tuple(
            sum(column) for column in zip(*(counts(row) for row in data["rows"]), strict=True)
        )
        assert summed == plain, group
