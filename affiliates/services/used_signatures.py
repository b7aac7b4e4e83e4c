"""Used signatures: each signed request's signature is accepted once.

The one seam through which authentication remembers signatures: `claim(digest, expires_at,
now)` is True for the first request carrying a signature and False for every later one
while it could still be accepted (its timestamp within 300 s). Two stores keep them: the
database (a table whose primary key is the guard, so racing copies get one True) or, when
`REDIS_URL` is set, Redis (`SET key NX EX`, shared by every server and gone by itself).
A claim commits on a connection of its own, before the request's work begins: a replay is
refused before it can change anything.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any, Protocol

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from affiliates.exceptions import Unavailable
from affiliates.models import UsedSignature

# Kept this long past their window: servers whose clocks differ by less still refuse a
# replay the other one pruned.
MARGIN_SECONDS = 60
PRUNE_EVERY_SECONDS = 60.0
REDIS_PREFIX = "affiliates:signature:"


class UsedSignatures(Protocol):
    """Where accepted signatures are remembered."""

    def claim(self, digest: str, expires_at: int, now: float) -> bool:
        """True the first time `digest` is claimed; False when it was claimed already."""
        ...


def _utc(unix: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


class DatabaseUsedSignatures:
    """Signatures as rows of `used_signatures`; expired rows are deleted by a claim at most
    every `prune_every` seconds per process (one indexed DELETE), never one by one."""

    def __init__(self, engine: Engine, prune_every: float = PRUNE_EVERY_SECONDS) -> None:
        self.engine = engine
        self.prune_every = prune_every
        self._next_prune = 0.0
        self._lock = threading.Lock()
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        # RETURNING, not the row count: a row comes back only when one was inserted (the
        # count an INSERT … ON CONFLICT DO NOTHING reports is not that on every driver)
        self._insert = (
            module.insert(UsedSignature).on_conflict_do_nothing().returning(UsedSignature.digest)
        )

    def claim(self, digest: str, expires_at: int, now: float) -> bool:
        with self.engine.begin() as conn:
            if self._prune_due(now):
                conn.execute(
                    delete(UsedSignature).where(
                        UsedSignature.expires_at < _utc(now - MARGIN_SECONDS)
                    )
                )
            # the primary key decides between racing copies: only one inserts a row
            inserted = conn.execute(
                self._insert, {"digest": digest, "expires_at": _utc(expires_at)}
            ).first()
        return inserted is not None

    def _prune_due(self, now: float) -> bool:
        with self._lock:
            if now < self._next_prune:
                return False
            self._next_prune = now + self.prune_every
            return True


class RedisUsedSignatures:
    """Signatures as Redis keys that expire with their window."""

    def __init__(self, client: Any, prefix: str = REDIS_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def claim(self, digest: str, expires_at: int, now: float) -> bool:
        import redis

        seconds = max(1, math.ceil(expires_at - now) + MARGIN_SECONDS)
        try:
            return bool(self.client.set(self.prefix + digest, b"1", nx=True, ex=seconds))
        except redis.RedisError:
            raise Unavailable("Redis is not answering; retry shortly.") from None


def make(redis_url: str | None, engine: Engine) -> UsedSignatures:
    """The store the configuration asks for: Redis when `redis_url` is set, else the
    database. (The Redis client connects on first use.)"""
    if redis_url:
        import redis

        return RedisUsedSignatures(redis.Redis.from_url(redis_url, socket_timeout=2))
    return DatabaseUsedSignatures(engine)
