"""The click log: the one seam through which the redirector reads links and writes clicks.

It speaks DBAPI directly (sqlite3 or psycopg) over one connection per worker thread, kept
for the thread's life: one indexed lookup (usually served from a short-lived per-process
cache), one INSERT, one COMMIT. The ORM does not belong on this path.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

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
        self._cache: dict[str, tuple[float, LinkTarget | None]] = {}
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size

    # connections -------------------------------------------------------------------------

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.raw_connection()
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # noqa: S110 - the connection is already broken; drop it
                pass

    def close(self) -> None:
        """Return this thread's connection to the pool."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _run(self, sql: str, params: dict[str, Any], fetch: bool) -> Any:
        """Execute and commit; after a lost connection (database restart), retry once."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(sql, params)
                    row = cursor.fetchone() if fetch else None
                finally:
                    cursor.close()
                conn.commit()
                return row
            except self._duplicate:
                # A retried insert whose first commit did land: the click is recorded.
                conn.rollback()
                return None
            except self._retryable:
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
            target = LinkTarget(
                link_id=row[0],
                partner_id=row[1],
                offer_id=row[2],
                destination_url=row[3],
                utm=utm,
                sub_id=row[9],
                window_days=row[10],
                attributable=row[11] == "active" and row[12] == "active",
                target=with_params(row[3], utm),
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
            params["created_at"] = click.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")
            params["is_bot"] = int(click.is_bot)
            params["attributable"] = int(click.attributable)
        self._run(self._insert_sql, params, fetch=False)
