"""Stats read from rollups equal stats computed from the raw clicks (a property, both
databases)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from affiliates.models import Click, ClickRollup
from affiliates.services import rollups
from affiliates.services import stats as stats_service
from tests.factories import LinkFactory, OfferFactory, PartnerFactory
from tests.helpers import T0

BASE = T0.replace(hour=0)
SPAN_MINUTES = 2 * 24 * 60 + 120
LATER = BASE + dt.timedelta(days=30)

clicks_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # link
        st.integers(0, 3),  # visitor
        st.integers(0, SPAN_MINUTES),  # minute
        st.integers(0, 59),  # second: same instants happen, and ties
        st.booleans() | st.just(False),  # bot (humans more often)
        st.sampled_from([None, "spring", "autumn"]),  # utm_campaign
        st.sampled_from([None, "s1", "s2"]),  # sub_id
        st.sampled_from([None, "mail", "feed"]),  # utm_source
    ),
    max_size=50,
)
moment = st.none() | st.integers(-60, SPAN_MINUTES + 60).map(
    lambda minutes: BASE + dt.timedelta(minutes=minutes)
)
day = st.none() | st.integers(-1, 5).map(lambda days: (BASE + dt.timedelta(days=days)).date())
GROUPINGS = (None, "day", "link", "utm_campaign", "sub_id", "promo_code", "partner", "offer")


def reference(clicks, partner_id, offer_id, start, end, group_by):
    """Today's definition over the raw clicks, written plainly: a click is unique when it is
    a human's and no human click of the same visitor on the link came in the 24 h before it
    (the same instant counts as before for the lower id)."""
    unique = {}
    for click in clicks:
        earlier = [
            other
            for other in clicks
            if not other["is_bot"]
            and other["link_id"] == click["link_id"]
            and other["visitor_key"] == click["visitor_key"]
            and (other["created_at"], other["id"]) < (click["created_at"], click["id"])
            and click["created_at"] - other["created_at"] < dt.timedelta(hours=24)
        ]
        unique[click["id"]] = not click["is_bot"] and not earlier
    totals = [0, 0, 0]
    rows = defaultdict(lambda: [0, 0, 0])
    for click in clicks:
        if partner_id is not None and click["partner_id"] != partner_id:
            continue
        if offer_id is not None and click["offer_id"] != offer_id:
            continue
        if start is not None and click["created_at"] < start:
            continue
        if end is not None and click["created_at"] >= end:
            continue
        if group_by == "day":
            key = click["created_at"].date().isoformat()
        elif group_by in ("link", "partner", "offer"):
            key = str(click[f"{group_by}_id"])
        elif group_by in ("utm_campaign", "sub_id"):
            key = click[group_by]
        else:
            key = None
        figures = (0 if click["is_bot"] else 1, int(unique[click["id"]]), int(click["is_bot"]))
        for into in (totals, rows[key]):
            for index, value in enumerate(figures):
                into[index] += value
    if group_by in (None, "promo_code"):
        rows = {}
    return tuple(totals), dict(rows)


def test_stats_read_from_rollups_equal_stats_computed_from_the_raw_clicks(session):
    partners = [PartnerFactory(), PartnerFactory()]
    offers = [OfferFactory(), OfferFactory()]
    links = [LinkFactory(partner=partners[n % 2], offer=offers[n // 2 % 2]) for n in range(4)]
    counter = iter(range(10**9))

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(
        clicks=clicks_strategy,
        runs=st.sets(st.integers(0, 50), max_size=4),
        last_run=st.booleans(),
        batch=st.integers(1, 7),
        partner=st.sampled_from([None, 0, 1]),
        offer=st.sampled_from([None, 0, 1]),
        start=moment | day,
        end=moment | day,
        group_by=st.sampled_from(GROUPINGS),
    )
    def check(clicks, runs, last_run, batch, partner, offer, start, end, group_by):
        session.execute(delete(ClickRollup))
        session.execute(delete(Click))
        session.commit()
        rows = []
        for link_no, visitor, minute, second, bot, campaign, sub_id, source in clicks:
            link = links[link_no]
            rows.append(
                {
                    "id": f"p{next(counter):012d}",
                    "link_id": link.id,
                    "partner_id": link.partner_id,
                    "offer_id": link.offer_id,
                    "created_at": BASE + dt.timedelta(minutes=minute, seconds=second),
                    "ip_hash": f"ip-{visitor}",
                    "visitor_key": f"key-{visitor}",
                    "user_agent": "",
                    "referer": "",
                    "utm_source": source,
                    "utm_medium": None,
                    "utm_campaign": campaign,
                    "utm_content": None,
                    "utm_term": None,
                    "sub_id": sub_id,
                    "params": None,
                    "is_bot": bot,
                    "attributable": not bot,
                }
            )
        rows.sort(key=lambda row: row["created_at"])  # the redirector writes them in time order
        for index, row in enumerate(rows):
            if index in runs:
                # the aggregator, run now: what is older than a minute is rolled up
                rollups.roll_up(session, row["created_at"], batch=batch,
                                settle=dt.timedelta(minutes=1))  # fmt: skip
            session.execute(insert(Click), [row])
            session.commit()
        if last_run:
            rollups.roll_up(session, LATER, batch=batch)
        partner_id = None if partner is None else partners[partner].id
        offer_id = None if offer is None else offers[offer].id
        got = stats_service.stats(session, partner_id=partner_id, offer_id=offer_id,
                                  start=start, end=end, group_by=group_by)  # fmt: skip
        since, until = stats_service.period(start, end)
        want_totals, want_rows = reference(rows, partner_id, offer_id, since, until, group_by)
        got_rows = {
            row["key"]: [row["clicks"], row["unique_clicks"], row["bot_clicks"]]
            for row in got["rows"]
        }
        if group_by == "promo_code":
            got_rows = {}
        assert (
            got["totals"]["clicks"],
            got["totals"]["unique_clicks"],
            got["totals"]["bot_clicks"],
        ) == want_totals
        assert got_rows == want_rows

    check()
