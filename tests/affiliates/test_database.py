"""The SQLite engine: WAL checkpoints are a background thread's work, not a commit's."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from affiliates.database import WAL_BACKSTOP_PAGES, Checkpointer, make_engine
from affiliates.database import sqlite as sqlite_specifics


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpointer"]


@pytest.fixture
def engine(tmp_path, monkeypatch):
    # a short interval keeps the test quick; the thread is the same
    monkeypatch.setattr(Checkpointer.__init__, "__defaults__", (0.05,))
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    yield engine
    engine.dispose()


def test_a_commit_leaves_the_checkpoint_to_the_background_save_a_backstop(engine):
    with engine.connect() as conn:
        limit = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
    assert limit == WAL_BACKSTOP_PAGES


def test_committed_rows_reach_the_database_file_without_any_commit_checkpointing(engine, tmp_path):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    with engine.begin() as conn:
        for n in range(200):
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"row {n}"})
    # immutable=1 reads the database file alone, never the WAL: rows there were checkpointed
    path = tmp_path / "wal.db"
    deadline = time.monotonic() + 5
    found = 0
    while time.monotonic() < deadline and found < 200:
        time.sleep(0.05)
        reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            found = reader.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself is not in the file yet
            found = 0
        finally:
            reader.close()
    assert found == 200


def test_each_process_runs_one_checkpointer_started_by_its_first_connection(tmp_path, monkeypatch):
    checkpointer = Checkpointer(str(tmp_path / "one.db"), interval=0.05)
    before = len(_checkpointers())
    checkpointer.ensure_running()
    checkpointer.ensure_running()
    assert len(_checkpointers()) == before + 1
    first = checkpointer._stop
    # a forked worker has another pid: it starts its own
    monkeypatch.setattr(sqlite_specifics.os, "getpid", lambda: -1)
    checkpointer.ensure_running()
    assert len(_checkpointers()) == before + 2
    checkpointer.stop()
    first.set()  # in a real fork the parent's thread is not in the child


def test_a_stopped_checkpointer_ends_its_thread(tmp_path):
    checkpointer = Checkpointer(str(tmp_path / "two.db"), interval=0.01)
    before = set(_checkpointers())
    checkpointer.ensure_running()
    (thread,) = set(_checkpointers()) - before
    checkpointer.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
