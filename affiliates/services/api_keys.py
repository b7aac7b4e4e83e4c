"""API keys: random secrets shown once; the database keeps only a SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.exceptions import Invalid
from affiliates.models import ApiKey

KEY_PREFIX = "aff"
SCOPES = ("admin", "conversions", "partner")


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


def verify(session: Session, key: str) -> ApiKey | None:
    """The live key matching `key`, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or len(key) > 100:
        return None
    found = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if found is None or found.revoked_at is not None:
        return None
    if not hmac.compare_digest(found.key_hash, _digest(key)):
        return None
    return found


def revoke(session: Session, key_id: int) -> None:
    """Stop a key from working."""
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
