"""The click log: the one seam through which the redirector reads links and writes clicks.

It speaks DBAPI directly (sqlite3 or psycopg) over one connection per worker thread, kept
for the thread's life: one indexed lookup (usually served from a short-lived per-process
cache), one INSERT, one COMMIT. The ORM does not belong on this path.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from werkzeug.urls import iri_to_uri

from affiliates.database import sqlite_file, sqlite_timestamp
from tracking.utm import UTM_FIELDS, with_params

_LOOKUP = (
    "SELECT l.id, l.partner_id, l.offer_id, l.destination_url, l.utm_source, l.utm_medium,"
    " l.utm_campaign, l.utm_content, l.utm_term, l.sub_id, o.attribution_window_days,"
    " o.status, p.status"
    " FROM links l JOIN offers o ON o.id = l.offer_id JOIN partners p ON p.id = l.partner_id"
    " WHERE l.code = {code} AND l.archived_at IS NULL"
)
_COLUMNS = (
    "id", "link_id", "partner_id", "offer_id", "created_at", "ip_hash", "visitor_key",
    "user_agent", "referer", "utm_source", "utm_medium", "utm_campaign", "utm_content",
    "utm_term", "sub_id", "params", "is_bot", "attributable",
)  # fmt: skip


@dataclass(frozen=True)
class LinkTarget:
    """What the redirector needs to know about a live link."""

    link_id: int
    partner_id: int
    offer_id: int
    destination_url: str
    utm: dict[str, str | None]
    sub_id: str | None
    window_days: int
    # A suspended partner's (or archived offer's) link still redirects, unattributed.
    attributable: bool
    # The redirect target with UTM tags set, split before its fragment (see tracking.utm).
    target: tuple[str, str]
    # The click cookie's attributes after its value.
    cookie_attributes: str


@dataclass
class ClickRow:
    id: str
    link_id: int
    partner_id: int
    offer_id: int
    created_at: dt.datetime
    ip_hash: str
    visitor_key: str
    user_agent: str
    referer: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    sub_id: str | None
    params: str | None
    is_bot: bool
    attributable: bool


class ClickLog:
    """Reads live links and durably records clicks for one process."""

    def __init__(self, engine: Engine, cache_seconds: float = 5.0, cache_size: int = 10_000):
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        dbapi = engine.dialect.dbapi
        self._retryable: tuple[type[BaseException], ...] = (
            dbapi.OperationalError,  # type: ignore[union-attr]
            dbapi.InterfaceError,  # type: ignore[union-attr]
        )
        self._duplicate: type[BaseException] = dbapi.IntegrityError  # type: ignore[union-attr]
        if self._sqlite:
            self._lookup_sql = _LOOKUP.format(code=":code")
            values = ", ".join(f":{c}" for c in _COLUMNS)
        else:
            self._lookup_sql = _LOOKUP.format(code="%(code)s")
            values = ", ".join(f"%({c})s" for c in _COLUMNS)
        self._insert_sql = f"INSERT INTO clicks ({', '.join(_COLUMNS)}) VALUES ({values})"  # noqa: S608 - fixed column names
        self._local = threading.local()
        # SQLite lets one writer in at a time and makes the others poll with sleeps of 1 ms
        # and more, which wrecks tail latency. Writers of the click log queue on an flock
        # instead: the kernel wakes the next one the moment the lock is free.
        database = sqlite_file(engine.url)
        self._lock_path = f"{database}-clicklock" if database is not None else None
        self._cache: dict[str, tuple[float, LinkTarget | None]] = {}
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size

    # connections -------------------------------------------------------------------------

    def _connection(self) -> Any:
        """This thread's own DBAPI connection, in autocommit mode.

        It is detached from the pool: each statement commits by itself, so an INSERT is one
        round trip (PostgreSQL) or one step (SQLite) with no BEGIN or COMMIT of its own.
        """
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            pooled = self._engine.raw_connection()
            conn = pooled.driver_connection
            pooled.detach()
            if self._sqlite:
                conn.isolation_level = None
            else:
                conn.autocommit = True
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: S110 - the connection is already broken; drop it
                pass

    def close(self) -> None:
        """Close this thread's connection and lock file."""
        self._discard()
        fd = getattr(self._local, "lock_fd", None)
        self._local.lock_fd = None
        if fd is not None:
            os.close(fd)

    def _run(self, sql: str, params: dict[str, Any], fetch: bool) -> Any:
        """Execute one autocommitted statement; after a lost connection, retry once."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(sql, params)
                    return cursor.fetchone() if fetch else None
                finally:
                    cursor.close()
            except self._duplicate:
                # A retried insert whose first attempt did commit: the click is recorded.
                return None
            except self._retryable:
                # The database restarted or dropped us: reconnect and try once more.
                self._discard()
                if attempt == 2:
                    raise
        return None

    # links -------------------------------------------------------------------------------

    def lookup(self, code: str) -> LinkTarget | None:
        """The live link for `code`, from the cache when it is fresh enough."""
        now = time.monotonic()
        cached = self._cache.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = self._run(self._lookup_sql, {"code": code}, fetch=True)
        target = None
        if row is not None:
            utm = dict(zip(UTM_FIELDS, row[4:9], strict=True))
            destination = iri_to_uri(row[3])  # encoded once: Location headers must be ASCII
            target = LinkTarget(
                link_id=row[0],
                partner_id=row[1],
                offer_id=row[2],
                destination_url=destination,
                utm=utm,
                sub_id=row[9],
                window_days=row[10],
                attributable=row[11] == "active" and row[12] == "active",
                target=with_params(destination, utm),
                cookie_attributes=(f"Max-Age={row[10] * 86_400}; Path=/; HttpOnly; SameSite=Lax"),
            )
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[code] = (now + self._cache_seconds, target)
        return target

    def forget(self, code: str | None = None) -> None:
        """Drop cached links (all, or one code)."""
        if code is None:
            self._cache.clear()
        else:
            self._cache.pop(code, None)

    # clicks ------------------------------------------------------------------------------

    def record(self, click: ClickRow) -> None:
        """Insert one click and commit it before returning."""
        params = dict(click.__dict__)
        if self._sqlite:
            params["created_at"] = sqlite_timestamp(click.created_at)
            params["is_bot"] = int(click.is_bot)
            params["attributable"] = int(click.attributable)
        if self._lock_path is None:
            self._run(self._insert_sql, params, fetch=False)
            return
        fd = self._lock_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self._run(self._insert_sql, params, fetch=False)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_fd(self) -> int:
        fd = getattr(self._local, "lock_fd", None)
        if fd is None:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # type: ignore[arg-type]
            self._local.lock_fd = fd
        return fd
