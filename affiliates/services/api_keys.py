"""API keys: random secrets shown once; the database keeps only a SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.exceptions import Invalid
from affiliates.models import ApiKey, Partner

KEY_PREFIX = "aff"
# the key with its partner's status (partner keys), in one statement
_BY_PREFIX = (
    select(
        ApiKey.id,
        ApiKey.key_hash,
        ApiKey.scope,
        ApiKey.partner_id,
        ApiKey.signing_secret,
        ApiKey.revoked_at,
        Partner.status.label("partner_status"),
    )
    .outerjoin(Partner, Partner.id == ApiKey.partner_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)
SCOPES = ("admin", "conversions", "partner")
_PREFIX = re.compile(r"[0-9a-f]{12}")  # token_hex(6); anything else cannot be a key of ours


def _digest(key: str) -> str:
    # Keys carry 190+ bits of randomness, so a fast hash is the right tool (no stretching).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue(
    session: Session,
    scope: str,
    name: str = "",
    partner_id: int | None = None,
    signing_secret: str | None = None,
) -> str:
    """Create a key and return it in clear; it cannot be recovered later.

    A key with a `signing_secret` accepts only signed requests (see affiliates.signatures);
    the secret is kept in clear because the server must compute the same HMAC.
    """
    if scope not in SCOPES:
        raise Invalid("scope", f"Scope must be one of {', '.join(SCOPES)}.")
    if scope == "partner" and partner_id is None:
        raise Invalid("partner_id", "A partner key needs a partner.")
    if scope != "partner":
        partner_id = None
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    session.add(
        ApiKey(
            prefix=prefix,
            key_hash=_digest(key),
            name=name,
            scope=scope,
            partner_id=partner_id,
            signing_secret=signing_secret,
        )
    )
    session.commit()
    return key


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs to know about the key it carries."""

    id: int
    scope: str
    partner_id: int | None
    signing_secret: str | None
    partner_status: str | None = None  # a partner key's partner's status when read


# Verified keys are remembered per process for a few seconds (one query less per API
# request); a revocation reaches every process within this time. Partner keys are read
# afresh each time, with their partner's status: a suspension stops them at once.
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, KeyInfo]] = {}
_CACHE_SIZE = 1000


def verify(bind: Engine, key: str) -> KeyInfo | None:
    """The live key matching `key`, or None; read on a short connection of its own (from
    the pool), unless this process verified the key a moment ago."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _PREFIX.fullmatch(parts[1]):
        return None
    if len(key) > 100:
        return None
    digest = _digest(key)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    with bind.connect() as conn:
        row = conn.execute(_BY_PREFIX, {"prefix": parts[1]}).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, digest):
        return None
    info = KeyInfo(row.id, row.scope, row.partner_id, row.signing_secret, row.partner_status)
    if info.partner_id is not None:
        return info
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[digest] = (now + CACHE_SECONDS, info)
    return info


def forget_cached() -> None:
    """Drop every remembered key (this process)."""
    _cache.clear()


def revoke(session: Session, key_id: int) -> None:
    """Stop a key from working."""
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    forget_cached()
