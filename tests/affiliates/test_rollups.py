"""The click rollups and their aggregator: counted once, capped, and the same figures as the
raw clicks."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from affiliates.extensions import db
from affiliates.models import Click, ClickRollup
from affiliates.services import rollups
from affiliates.services import stats as stats_service
from tests.factories import LinkFactory
from tests.helpers import T0, add_click, add_clicks

HOUR = dt.timedelta(hours=1)
LATER = T0 + dt.timedelta(days=30)  # the aggregator's "now": every test click has settled


def counts(figures):
    return (figures["clicks"], figures["unique_clicks"], figures["bot_clicks"])


def roll(session, now=LATER, **options):
    return rollups.roll_up(session, now, **options)


def rollup_totals(session):
    return tuple(
        int(value)
        for value in session.execute(
            select(
                func.coalesce(func.sum(ClickRollup.clicks), 0),
                func.coalesce(func.sum(ClickRollup.unique_clicks), 0),
                func.coalesce(func.sum(ClickRollup.bot_clicks), 0),
            )
        ).one()
    )


def not_rolled_up(session):
    return session.scalar(select(func.count()).where(Click.unique_click.is_(None)))


# The aggregator -------------------------------------------------------------------------


def test_the_aggregator_rolls_up_every_click_once_and_marks_its_uniqueness(session):
    link = LinkFactory()
    first, repeat = add_clicks(session, link, T0, T0 + HOUR)
    (bot,) = add_clicks(session, link, T0, visitor="crawler", bot=True)
    assert roll(session) == rollups.Run(3)
    assert not_rolled_up(session) == 0
    marks = dict(session.execute(select(Click.id, Click.unique_click)).all())
    assert marks == {first: True, repeat: False, bot: False}
    assert rollup_totals(session) == (2, 1, 1)


def test_running_the_aggregator_twice_counts_nothing_twice(session):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + HOUR, T0 + 30 * HOUR)
    assert roll(session).rolled_up == 3
    assert roll(session).rolled_up == 0
    assert rollup_totals(session) == (3, 2, 0)
    add_clicks(session, link, T0 + 31 * HOUR, visitor="b")
    assert roll(session).rolled_up == 1
    assert rollup_totals(session) == (4, 3, 0)


def test_the_aggregator_works_in_batches_and_each_batch_commits(session):
    link = LinkFactory()
    add_clicks(session, link, *(T0 + n * HOUR for n in range(7)))
    assert roll(session, batch=3).rolled_up == 7
    assert rollup_totals(session) == (7, 1, 0)


def test_a_crash_mid_batch_rolls_the_whole_batch_back(session, monkeypatch):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + HOUR)

    def crash(*_args, **_kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(rollups, "_add", crash)
    with pytest.raises(RuntimeError):
        roll(session)
    session.rollback()
    assert not_rolled_up(session) == 2
    assert rollup_totals(session) == (0, 0, 0)
    monkeypatch.undo()
    assert roll(session).rolled_up == 2
    assert rollup_totals(session) == (2, 1, 0)


def test_clicks_younger_than_the_settling_time_wait_for_the_next_run(session):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + dt.timedelta(seconds=58))
    assert roll(session, now=T0 + dt.timedelta(minutes=1)).rolled_up == 1
    assert not_rolled_up(session) == 1
    data = stats_service.stats(session)
    assert counts(data["totals"]) == (2, 1, 0)


def test_a_click_committed_while_the_aggregator_runs_is_counted_exactly_once(
    app, session, monkeypatch
):
    link = LinkFactory()
    add_clicks(session, link, T0, visitor="a")
    decide = rollups.decide_uniqueness
    late: list[str] = []

    def with_a_click_meanwhile(batch_session, clicks):
        if not late:
            # another server's click, committed on its own connection mid-batch
            with Session(db.engine) as other:
                late.append(add_click(other, link, T0 + HOUR, visitor="b"))
        return decide(batch_session, clicks)

    monkeypatch.setattr(rollups, "decide_uniqueness", with_a_click_meanwhile)
    assert roll(session).rolled_up == 1
    monkeypatch.undo()
    assert counts(stats_service.stats(session)["totals"]) == (2, 2, 0)
    assert roll(session).rolled_up == 1
    assert roll(session).rolled_up == 0
    assert counts(stats_service.stats(session)["totals"]) == (2, 2, 0)
    assert rollup_totals(session) == (2, 2, 0)


def test_two_aggregators_at_once_count_every_click_once(app, session):
    link = LinkFactory()
    for visitor in range(40):
        add_clicks(session, link, *(T0 + n * 7 * HOUR for n in range(10)), visitor=visitor)
    runs: list[rollups.Run] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def aggregate() -> None:
        try:
            with app.app_context(), Session(db.engine) as own:
                start.wait()
                runs.append(rollups.roll_up(own, LATER, batch=50))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=aggregate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    leftover = roll(session).rolled_up  # what a skipped aggregator left for the next run
    assert sum(run.rolled_up for run in runs) + leftover == 400
    assert rollup_totals(session) == (400, 40, 0)  # 7 h apart: one visit a visitor
    assert not_rolled_up(session) == 0


def test_on_postgresql_an_aggregator_finding_the_lock_taken_skips(app, session):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    link = LinkFactory()
    add_clicks(session, link, T0)
    with db.engine.connect() as holder:
        holder.execute(select(func.pg_advisory_lock(rollups.LOCK_KEY)))
        try:
            assert roll(session) == rollups.Run(0, skipped=True)
        finally:
            holder.execute(select(func.pg_advisory_unlock(rollups.LOCK_KEY)))
    assert roll(session).rolled_up == 1


# The cap --------------------------------------------------------------------------------


def test_combinations_past_the_cap_in_a_link_hour_are_counted_as_other(session, monkeypatch):
    monkeypatch.setattr(rollups, "CAP", 3)
    link = LinkFactory()
    for n in range(5):
        add_click(session, link, T0 + n * dt.timedelta(minutes=1), visitor=n, sub_id=f"s{n}")
    add_click(session, link, T0 + dt.timedelta(minutes=6), visitor="x", sub_id="s0")
    add_click(session, link, T0 + HOUR, visitor="y", sub_id="s4")  # a new hour: room again
    assert roll(session, batch=2).rolled_up == 7
    rows = session.execute(
        select(
            ClickRollup.hour, ClickRollup.sub_id, ClickRollup.utm_campaign, ClickRollup.clicks
        ).order_by(ClickRollup.hour, ClickRollup.sub_id)
    ).all()
    assert [(row.hour, row.sub_id, row.clicks) for row in rows] == [
        (T0, "(other)", 2),
        (T0, "s0", 2),
        (T0, "s1", 1),
        (T0, "s2", 1),
        (T0 + HOUR, "s4", 1),
    ]
    assert rows[0].utm_campaign == "(other)"
    whole_hours = stats_service.stats(session, start=T0, end=T0 + 2 * HOUR, group_by="sub_id")
    by_sub_id = {row["key"]: row["clicks"] for row in whole_hours["rows"]}
    assert by_sub_id == {"(other)": 2, "s0": 2, "s1": 1, "s2": 1, "s4": 1}
    assert whole_hours["totals"]["clicks"] == 7


def test_the_cap_bounds_the_rollup_rows_of_a_link_hour(session, monkeypatch):
    monkeypatch.setattr(rollups, "CAP", 10)
    link = LinkFactory()
    for n in range(60):
        add_click(session, link, T0 + n * dt.timedelta(seconds=30), visitor=n, sub_id=f"s{n}")
    roll(session, batch=7)
    assert session.scalar(select(func.count()).select_from(ClickRollup)) == 11
    assert rollup_totals(session) == (60, 60, 0)


# Stats from rollups and tail ------------------------------------------------------------


@pytest.mark.parametrize(
    "period",
    [
        (None, None),
        (T0, None),
        (None, T0 + 5 * HOUR),
        (T0 + dt.timedelta(minutes=30), T0 + dt.timedelta(hours=3, minutes=10)),
        (T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(minutes=50)),
        (T0 + dt.timedelta(minutes=50), T0 + dt.timedelta(hours=1, minutes=10)),
    ],
)
def test_stats_are_the_same_before_and_after_the_aggregator_runs(session, period):
    link, other = LinkFactory(), LinkFactory()
    for n in range(12):
        at = T0 + n * dt.timedelta(minutes=25)
        add_click(session, link, at, visitor=n % 3, sub_id=f"s{n % 2}")
        add_click(session, other, at, visitor="bot", bot=True)
    start, end = period
    before = {
        group: stats_service.stats(session, start=start, end=end, group_by=group)
        for group in (None, "day", "link", "sub_id", "utm_campaign")
    }
    roll(session, batch=5)
    assert not_rolled_up(session) == 0
    for group, expected in before.items():
        assert stats_service.stats(session, start=start, end=end, group_by=group) == expected


def test_a_partly_rolled_up_period_counts_each_click_once(session):
    link = LinkFactory()
    add_clicks(session, link, *(T0 + hours * HOUR for hours in (0, 5, 10, 40, 45, 50)))
    roll(session, now=T0 + 12 * HOUR, settle=dt.timedelta(0))
    assert not_rolled_up(session) == 3
    assert counts(stats_service.stats(session)["totals"]) == (6, 2, 0)


def test_an_imported_click_left_unmarked_is_rolled_up_by_the_next_run(session):
    link = LinkFactory()
    add_clicks(session, link, T0)
    roll(session)
    session.execute(update(Click).values(unique_click=None))  # a restored backup, say
    session.execute(ClickRollup.__table__.delete())
    session.commit()
    assert roll(session).rolled_up == 1
    assert rollup_totals(session) == (1, 1, 0)


def test_the_redirector_leaves_new_clicks_unmarked(client, session):
    link = LinkFactory()
    assert client.get(f"/r/{link.code}").status_code == 302
    assert not_rolled_up(session) == 1
    assert counts(stats_service.stats(session)["totals"]) == (1, 1, 0)


def test_a_rollup_row_is_the_utc_hour_its_clicks_fell_in(session):
    link = LinkFactory()
    add_clicks(session, link, T0 + dt.timedelta(minutes=42), T0 + dt.timedelta(minutes=59))
    roll(session)
    assert session.execute(select(ClickRollup.hour, ClickRollup.clicks)).all() == [(T0, 2)]


def test_part_hours_at_both_edges_of_a_period_count_their_rolled_up_clicks(session):
    link = LinkFactory()
    add_clicks(session, link, T0 + dt.timedelta(minutes=50), visitor="start-edge")
    add_clicks(session, link, T0 + dt.timedelta(hours=1, minutes=30), visitor="whole-hour")
    add_clicks(session, link, T0 + dt.timedelta(hours=3, minutes=5), visitor="end-edge")
    add_clicks(session, link, T0 + dt.timedelta(hours=3, minutes=15), visitor="after")
    roll(session)
    data = stats_service.stats(
        session, start=T0 + dt.timedelta(minutes=40), end=T0 + dt.timedelta(hours=3, minutes=10)
    )
    assert counts(data["totals"]) == (3, 3, 0)


def test_stats_read_while_the_aggregator_commits_count_each_click_once(app, session, monkeypatch):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + HOUR, T0 + 26 * HOUR)
    decide = rollups.decide_uniqueness
    meanwhile: list[rollups.Run] = []

    def aggregator_commits_meanwhile(own_session, clicks):
        verdicts = decide(own_session, clicks)
        if not meanwhile:  # after the stats read the tail, before they read the rollups
            monkeypatch.setattr(rollups, "decide_uniqueness", decide)
            with Session(db.engine) as other:
                meanwhile.append(rollups.roll_up(other, LATER))
        return verdicts

    monkeypatch.setattr(rollups, "decide_uniqueness", aggregator_commits_meanwhile)
    assert counts(stats_service.stats(session)["totals"]) == (3, 2, 0)
    assert meanwhile == [rollups.Run(3)]


def test_a_batch_larger_than_one_statement_s_in_list_is_read_and_marked_in_parts(
    session, monkeypatch
):
    monkeypatch.setattr(rollups, "_CHUNK", {"postgresql": 4, "sqlite": 4})
    link, other = LinkFactory(), LinkFactory()
    for visitor in range(5):
        add_clicks(session, link, T0, T0 + HOUR, T0 + 25 * HOUR, visitor=visitor)
        add_clicks(session, other, T0 + 2 * HOUR, visitor=visitor)
    assert roll(session).rolled_up == 20
    assert rollup_totals(session) == (20, 15, 0)
    assert not_rolled_up(session) == 0
