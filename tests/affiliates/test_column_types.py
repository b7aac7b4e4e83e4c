"""Column types and SQLite helpers: timestamps are stored in UTC in SQLAlchemy's SQLite text
form; only a SQLite file database has a path."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import sqlite

from affiliates.database import UTCDateTime, make_engine, sqlite_file

ZONES = st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=3)),
                         dt.timezone(dt.timedelta(hours=-9, minutes=-30))])  # fmt: skip
MOMENTS = st.builds(
    lambda at, zone: at.replace(tzinfo=zone),
    st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
    ZONES,
)


@given(MOMENTS)
def test_a_timestamp_binds_as_sqlalchemys_sqlite_text_of_its_utc_time(at):
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    utc = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    assert ours(at) == theirs(utc.replace(tzinfo=None))


def test_none_binds_as_null():
    dialect = sqlite.dialect()
    assert UTCDateTime().dialect_impl(dialect).bind_processor(dialect)(None) is None


def test_timestamps_round_trip_through_sqlite_as_the_same_instant(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'types.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime()))  # fmt: skip
    moments = [
        dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 10, 15, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        dt.datetime(2026, 3, 10, 12, 0, 0, 999_999),  # naive: taken as UTC
    ]
    try:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"at": at} for at in moments])
        with engine.connect() as conn:
            back = list(conn.scalars(select(table.c.at).order_by(table.c.id)))
            stored = list(conn.scalars(text("SELECT at FROM t ORDER BY id")))
    finally:
        engine.dispose()
    assert back == [at if at.tzinfo else at.replace(tzinfo=dt.UTC) for at in moments]
    assert all(value.tzinfo is dt.UTC for value in back)
    assert stored == ["2026-03-10 12:00:00.000000", "2026-03-10 12:00:00.000001",
                      "2026-03-10 12:00:00.999999"]  # fmt: skip


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:////srv/affiliates.db", "/srv/affiliates.db"),
        ("sqlite:///instance/affiliates.db", "instance/affiliates.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://u@db/affiliates", None),
    ],
)
def test_only_a_sqlite_file_database_has_a_path(url, path):
    assert sqlite_file(url) == path
