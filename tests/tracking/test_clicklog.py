"""The click log on its own: one connection per thread that survives a failed insert."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import Click
from tests.factories import LinkFactory
from tracking.clicklog import ClickLog, ClickRow


def row(link, **changes) -> ClickRow:
    values = {
        "id": secrets.token_urlsafe(16),
        "link_id": link.id,
        "partner_id": link.partner_id,
        "offer_id": link.offer_id,
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "ip_hash": "h" * 32,
        "visitor_key": "v" * 32,
        "user_agent": "agent",
        "referer": "",
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "utm_content": None,
        "utm_term": None,
        "sub_id": None,
        "params": None,
        "is_bot": False,
        "attributable": True,
    }
    values.update(changes)
    return ClickRow(**values)


@pytest.fixture
def clicklog():
    log = ClickLog(db.engine, cache_seconds=60)
    yield log
    log.close()


def test_a_recorded_click_reads_back_exactly(clicklog, session):
    link = LinkFactory()
    click = row(link, is_bot=True, attributable=False, params='{"a": "1"}')
    clicklog.record(click)
    stored = session.get(Click, click.id)
    assert stored.created_at == click.created_at
    assert (stored.is_bot, stored.attributable, stored.params) == (True, False, '{"a": "1"}')


def test_recording_the_same_click_twice_keeps_one_row(clicklog, session):
    # what a retry after a lost COMMIT acknowledgement does
    link = LinkFactory()
    click = row(link)
    clicklog.record(click)
    clicklog.record(click)
    assert session.scalar(select(func.count()).select_from(Click)) == 1


def test_a_failed_insert_does_not_poison_the_threads_connection(clicklog, session):
    link = LinkFactory()
    bad = row(link, user_agent="nul\x00byte", sub_id="x" * 300)
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(db.engine.dialect.dbapi.DataError):
            clicklog.record(bad)
    else:  # SQLite takes anything
        clicklog.record(bad)
    good = row(link)
    clicklog.record(good)
    assert session.get(Click, good.id) is not None
    assert clicklog.lookup(link.code).link_id == link.id


def test_lookup_serves_from_the_cache_until_forgotten(clicklog, session):
    link = LinkFactory()
    assert clicklog.lookup(link.code).link_id == link.id
    session.delete(session.get(type(link), link.id))
    session.commit()
    assert clicklog.lookup(link.code) is not None  # cached
    clicklog.forget(link.code)
    assert clicklog.lookup(link.code) is None
    assert clicklog.lookup("nothing-here") is None
