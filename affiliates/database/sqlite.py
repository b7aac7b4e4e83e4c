"""SQLite's specifics: what a file database is, its pragmas and timestamp text, the WAL
checkpointer thread, the writers' queue, and connections held per thread."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

# A commit that finds the WAL past this many pages checkpoints it then and there, fsyncs
# included, while the writer queue's lock is held and every other writer waits behind it; so
# the checkpoints are a background thread's work (Checkpointer), and this is only the backstop
# should that thread not keep up (10 000 pages: a WAL of 40 MB at most).
WAL_BACKSTOP_PAGES = 10_000


def sqlite_file(url: Any) -> str | None:
    """The path of a SQLite file database (a URL, string or parsed), or None for any other
    database, SQLite in memory included."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def sqlite_timestamp(value: dt.datetime) -> str:
    """A timestamp as SQLAlchemy stores it on SQLite: its UTC time as text, microseconds
    always written (naive values are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL, foreign keys and a busy timeout on every new connection (a "connect" event)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.close()


class Checkpointer:
    """Checkpoints a SQLite file database's WAL from a thread of this process's own.

    Every `interval` seconds it runs a PASSIVE checkpoint on a connection of its own: it copies
    what no reader still needs into the database file and never waits for readers or writers,
    and once all is copied the next writer starts the WAL afresh. A process started by fork
    (a gunicorn worker) starts its own thread on its first connection.
    """

    def __init__(self, path: str, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        """Start this process's thread, unless it runs already."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            thread = threading.Thread(target=self._run, args=(self._stop,),
                                      name="sqlite-checkpointer", daemon=True)  # fmt: skip
            thread.start()

    def stop(self) -> None:
        """Stop this process's thread (it ends after its current checkpoint)."""
        self._stop.set()
        self._pid = None

    def _run(self, stop: threading.Event) -> None:
        import sqlite3

        conn: sqlite3.Connection | None = None
        try:
            while not stop.wait(self.interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=0, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    # busy, or the file went away: the next round tries again, afresh
                    if conn is not None:
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()


class HeldConnections:
    """A connection per thread that stays checked out between uses, for a hot path on a
    SQLite file database.

    Checking a connection out of the pool and back in (with its reset) costs more than some
    of the statements a hot path runs. A SQLite file cannot restart under us, so a connection
    may stay open for the life of the thread; on any other database each use checks one out
    of the pool as usual (where pre-ping notices a restarted server). A thread remembers one
    engine's connection: another engine's (a new app, as in tests) closes it.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def connect(self, engine: Engine) -> Iterator[Connection]:
        """A connection for the block; whatever transaction the block leaves is rolled back."""
        if sqlite_file(engine.url) is None:
            with engine.connect() as fresh:
                yield fresh
            return
        local = self._local
        held: Connection | None = getattr(local, "conn", None)
        if held is not None and (
            local.engine is not engine or local.pid != os.getpid() or held.invalidated
        ):
            if local.pid == os.getpid():
                held.close()  # (a parent process's connection is left alone)
            held = None
        if held is None:
            held = local.conn = engine.connect()
            local.engine, local.pid = engine, os.getpid()
        try:
            yield held
        finally:
            if held.invalidated:
                local.conn = None
                held.close()
            else:
                if held.in_transaction():
                    held.rollback()
                dbapi_connection: Any = held.connection.dbapi_connection
                if dbapi_connection.in_transaction:  # begun on the driver, past SQLAlchemy
                    dbapi_connection.rollback()


class WriterQueue:
    """Queues a process's SQLite writers on an flock of a file beside the database.

    SQLite lets one writer in at a time and makes the others poll with sleeps of 1 ms and
    more; writers queued on a lock are woken by the kernel the moment it is free. Each
    thread has its own descriptor, so threads queue too. A connection that is already in a
    write transaction skips the queue: it holds SQLite's lock, and waiting on the flock
    behind a writer that waits for that lock would stall both. PostgreSQL needs no queue.
    """

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix
        self._local = threading.local()

    @contextmanager
    def turn(self, conn: Connection) -> Iterator[None]:
        """Hold the queue's lock for the block (SQLite file databases only)."""
        dbapi_connection: Any = conn.connection.dbapi_connection
        database = sqlite_file(conn.engine.url)
        if database is None or dbapi_connection.in_transaction:
            yield
            return
        fd = self._descriptor(f"{database}{self._suffix}")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _descriptor(self, path: str) -> int:
        fds: dict[str, int] | None = getattr(self._local, "fds", None)
        if fds is None:
            fds = self._local.fds = {}
        fd = fds.get(path)
        if fd is None:
            fd = fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd
