"""`affiliates rollup`, and the aggregator `affiliates serve` runs in the background."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from affiliates import gunicorn_hooks
from affiliates.background import Aggregator
from affiliates.extensions import db
from affiliates.models import Click
from affiliates.services import rollups
from affiliates.services import stats as stats_service
from tests.factories import LinkFactory
from tests.helpers import T0, add_clicks

HOUR = dt.timedelta(hours=1)


def not_rolled_up(session):
    return session.scalar(select(func.count()).where(Click.unique_click.is_(None)))


def test_rollup_rolls_up_every_click_not_yet_counted_and_says_how_many(runner, session, clock):
    link = LinkFactory()
    add_clicks(session, link, T0 - 3 * HOUR, T0 - 2 * HOUR, T0 - HOUR)
    result = runner.invoke(args=["rollup"])
    assert result.exit_code == 0, result.output
    assert result.output == "Rolled up 3 clicks.\n"
    assert not_rolled_up(session) == 0
    again = runner.invoke(args=["rollup"])
    assert again.output == "Rolled up 0 clicks.\n"
    assert stats_service.stats(session)["totals"]["unique_clicks"] == 1


def test_rollup_finding_another_aggregator_at_work_skips_and_exits_zero(runner, session, clock):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite's writers wait their turn")
    link = LinkFactory()
    add_clicks(session, link, T0 - HOUR)
    with db.engine.connect() as holder:
        holder.execute(select(func.pg_advisory_lock(rollups.LOCK_KEY)))
        try:
            result = runner.invoke(args=["rollup"])
        finally:
            holder.execute(select(func.pg_advisory_unlock(rollups.LOCK_KEY)))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Rolled up 0 clicks.\nAnother aggregator holds the lock: it rolls up the rest.\n"
    )
    assert not_rolled_up(session) == 1


def test_the_background_aggregator_rolls_up_clicks_every_interval(app, session):
    link = LinkFactory()
    add_clicks(session, link, T0, T0 + HOUR)  # long settled by the real clock
    aggregator = Aggregator(app.config["DATABASE_URL"], interval=0.05)
    aggregator.start()
    try:
        deadline = time.monotonic() + 10
        while not_rolled_up(session) and time.monotonic() < deadline:
            session.rollback()
            time.sleep(0.05)
    finally:
        aggregator.stop()
    assert not_rolled_up(session) == 0


def test_serve_runs_one_aggregator_in_the_arbiter_not_one_per_worker(app, monkeypatch):
    started: list[Aggregator] = []
    monkeypatch.setattr(Aggregator, "start", lambda self: started.append(self))
    monkeypatch.setattr(Aggregator, "stop", lambda self, timeout=10.0: started.remove(self))
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("AFFILIATES_ENV", "development")
    server = SimpleNamespace(log=SimpleNamespace(info=lambda *args: None))
    gunicorn_hooks.when_ready(server)
    for _worker in range(3):
        gunicorn_hooks.post_fork(server, None)
    assert len(started) == 1
    assert started[0].database_url == app.config["DATABASE_URL"]
    gunicorn_hooks.on_exit(server)
    assert started == []
