"""The intake's held connections: one per thread on a SQLite file, the pool elsewhere."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from affiliates.database import HeldConnections, make_engine


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'held.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield engine
    engine.dispose()


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM t")).scalar_one()


def test_a_thread_gets_the_same_sqlite_connection_each_time(engine):
    held = HeldConnections()
    with held.connect(engine) as first:
        pass
    with held.connect(engine) as second:
        assert second is first
        assert not second.closed


def test_other_threads_get_connections_of_their_own(engine):
    held = HeldConnections()
    with held.connect(engine) as mine:
        pass
    theirs = []

    def use() -> None:
        with held.connect(engine) as conn:
            theirs.append(conn)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine


def test_what_a_block_leaves_uncommitted_is_rolled_back(engine):
    held = HeldConnections()
    with held.connect(engine) as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('sqlalchemy')"))
    with held.connect(engine) as conn:
        # begun on the driver, past SQLAlchemy's transaction, as the intake's writes are
        conn.connection.dbapi_connection.execute("INSERT INTO t (v) VALUES ('driver')")
    assert _rows(engine) == 0
    with held.connect(engine) as conn:
        assert not conn.in_transaction()
        assert not conn.connection.dbapi_connection.in_transaction


def test_an_error_in_the_block_propagates_and_leaves_no_transaction(engine):
    held = HeldConnections()
    with pytest.raises(RuntimeError), held.connect(engine) as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('lost')"))
        raise RuntimeError("boom")
    assert _rows(engine) == 0
    with held.connect(engine) as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        conn.commit()
    assert _rows(engine) == 1


def test_another_engine_closes_the_connection_held_for_the_first(engine, tmp_path):
    held = HeldConnections()
    with held.connect(engine) as first:
        pass
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with held.connect(other) as second:
            assert second is not first
        assert first.closed
    finally:
        other.dispose()


def test_an_invalidated_connection_is_replaced(engine):
    held = HeldConnections()
    with held.connect(engine) as first:
        first.invalidate()
    with held.connect(engine) as second:
        assert second is not first
        assert second.execute(text("SELECT 1")).scalar_one() == 1


def test_an_in_memory_database_uses_the_pool_each_time():
    engine = make_engine("sqlite://")
    held = HeldConnections()
    try:
        with held.connect(engine) as first:
            pass
        assert first.closed
    finally:
        engine.dispose()
