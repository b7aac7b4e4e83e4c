"""Engine, session and column types shared by every model."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, Numeric, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from affiliates.money import CENT

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always returned aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: dt.datetime | None) -> str | None:
            # in one isoformat call, rather than process_bind_param and then the dialect's
            # %-format of seven fields
            return None if value is None else sqlite_timestamp(value)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """Exact money: NUMERIC(18, 2) in the database, Decimal in Python.

    SQLite has no decimal type; values round-trip through their decimal text and are
    quantised back to cents, which is exact for every amount below 10**13.
    """

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(18, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(18, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(CENT)
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(CENT)


class Percent(Money):
    """A percentage with two decimal places (0.00–100.00)."""

    impl = Numeric(5, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(5, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(5, 2))


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON}


# A commit that finds the WAL past this many pages checkpoints it then and there, fsyncs
# included, while the writer queue's lock is held and every other writer waits behind it; so
# the checkpoints are a background thread's work (Checkpointer), and this is only the backstop
# should that thread not keep up (10 000 pages: a WAL of 40 MB at most).
WAL_BACKSTOP_PAGES = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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


def normalise_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3 whatever driver they name."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


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


def make_engine(url: str) -> Engine:
    """Create an engine: SQLite in WAL mode with foreign keys, PostgreSQL via psycopg 3."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file database cannot restart under us, and the ping would cost a
        # statement per request.
        engine = create_engine(
            url,
            connect_args={"timeout": 10, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if path is not None:
            checkpointer = Checkpointer(path)
            event.listen(engine, "connect", lambda *_: checkpointer.ensure_running())
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """The engine and a request-scoped session, attached to a Flask app with init_app."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory = sessionmaker(expire_on_commit=False)
        self._scoped: scoped_session[Session] = scoped_session(self.session_factory)

    @property
    def session(self) -> Session:
        """The session of the current thread (and so of the current request)."""
        return self._scoped()

    @property
    def lazy_session(self) -> scoped_session[Session]:
        """The current thread's session, made only when a statement is run through it."""
        return self._scoped

    def remove(self) -> None:
        """Close and forget the current thread's session."""
        self._scoped.remove()

    def init_app(self, app: Any) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.session_factory.configure(bind=self.engine)
        app.extensions["database"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.remove()


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


def connection_of(executor: Session | Connection) -> Connection:
    """The connection a session works in, or the connection itself."""
    return executor.connection() if isinstance(executor, Session) else executor


class Prepared:
    """A fixed Core statement compiled once per dialect and run on the DBAPI cursor of a
    session's connection.

    For the few statements of a hot path (conversion intake) SQLAlchemy's per-execution
    work (~45 µs) outweighs the statement itself. Values still pass through the very bind
    and result processors SQLAlchemy would apply (Money as text on SQLite, UTC timestamps,
    JSON), and DBAPI errors are raised as SQLAlchemy's, a lost connection invalidated. An
    INSERT covers every column but the primary key; a column the caller leaves out gets its
    Python-side default, or NULL.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    def execute(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement in `conn`'s transaction; the rows it returns, processed."""
        return self.bind(conn.dialect, params).run(conn)

    def bind(self, dialect: Dialect, params: dict[str, Any]) -> Bound:
        """The statement with its values processed, to run later (say, inside a lock)."""
        compiled = self._compile(dialect)
        return Bound(compiled, compiled.arguments(params))


class Bound:
    """A prepared statement with its processed arguments, ready to run."""

    __slots__ = ("compiled", "args")

    def __init__(self, compiled: _Compiled, args: Any) -> None:
        self.compiled = compiled
        self.args = args

    def set(self, name: str, value: int | str | None) -> None:
        """Set a value known only late (an id an earlier INSERT returned); it is passed to
        the driver as it is, so it must be one no bind processor would change."""
        if self.compiled.positional:
            for index, each in enumerate(self.compiled.names):
                if each == name:
                    self.args[index] = value
        else:
            self.args[name] = value

    def run(self, conn: Connection) -> list[tuple[Any, ...]]:
        """Run the statement in `conn`'s transaction; the rows it returns, processed."""
        compiled, args = self.compiled, self.args
        dialect = conn.dialect
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, args)
            rows: Any = cursor.fetchall() if cursor.description is not None else []
            if compiled.result_processors is None and rows:
                found = [
                    kind._cached_result_processor(dialect, column[1])
                    for kind, column in zip(compiled.result_types, cursor.description, strict=True)
                ]
                # only the columns that have one; a NULL needs none (every processor keeps it)
                compiled.result_processors = [(i, p) for i, p in enumerate(found) if p]
        except dialect.loaded_dbapi.Error as exc:
            invalidated = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if invalidated:
                conn.invalidate(exc)
            raise DBAPIError.instance(compiled.sql, args, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated,
                                      dialect=dialect) from exc  # fmt: skip
        finally:
            cursor.close()
        processors = compiled.result_processors
        if not processors:
            return rows
        processed = []
        for row in rows:
            values = list(row)
            for index, processor in processors:
                value = values[index]
                if value is not None:
                    values[index] = processor(value)
            processed.append(tuple(values))
        return processed


class _Compiled:
    def __init__(self, statement: Any, dialect: Dialect) -> None:
        table = getattr(statement, "table", None) if statement.is_insert else None
        if table is not None:
            columns = [c for c in table.columns if not c.primary_key]
            compiled = statement.compile(dialect=dialect, column_keys=[c.key for c in columns])
            # Python-side defaults are applied by SQLAlchemy's execution context, not in SQL.
            self.defaults = {c.key: _default_of(c) for c in columns}
        else:
            compiled = statement.compile(dialect=dialect)
            self.defaults = {}
        self.sql = compiled.string
        names = list(compiled.positiontup or []) if dialect.positional else list(compiled.binds)
        names = [name for name in names if name in compiled.bind_names.values()]
        binds = {compiled.bind_names[b]: b for b in compiled.bind_names}
        self.positional = dialect.positional
        self.binds = [
            (name, binds[name].value, binds[name].required, compiled._bind_processors.get(name))
            for name in dict.fromkeys(names)
        ]
        self.names = names
        # what the statement returns (also a primary key PostgreSQL returns by itself); the
        # processors are chosen on the first run, from the driver's type codes
        self.result_types = [column.type for column in compiled._result_columns]
        self.result_processors: list[tuple[int, Any]] | None = None

    def arguments(self, params: dict[str, Any]) -> Any:
        values = {}
        defaults = self.defaults
        for name, fixed, required, processor in self.binds:
            if name in params:
                value = params[name]
            elif name in defaults:
                value = defaults[name]()
            elif not required:
                value = fixed
            else:
                raise KeyError(f"A value is required for the parameter {name!r}.")
            values[name] = value if processor is None else processor(value)
        if self.positional:
            return [values[name] for name in self.names]
        return values


def _default_of(column: Any) -> Any:
    default = column.default
    if default is None or not (default.is_scalar or default.is_callable):
        return lambda: None
    if default.is_scalar:
        return lambda: default.arg
    return lambda: default.arg(None)


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
