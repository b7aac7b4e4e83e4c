"""The hot path: redirector, click log, UTM, promo-code checks. Nothing slow on import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracking.clicklog import ClickLog
from tracking.visitors import VisitorHasher


@dataclass(frozen=True)
class TrackingState:
    """What the redirector needs, built once per app."""

    clicklog: ClickLog
    hasher: VisitorHasher
    secure: str  # the cookie's "; Secure" suffix, or ""


def init_app(app: Any, engine: Any) -> None:
    """Attach the click log, the visitor hasher and the clock to the app."""
    from affiliates.database import utcnow

    clicklog = ClickLog(engine, cache_seconds=app.config["LINK_CACHE_SECONDS"])
    app.extensions["clicklog"] = clicklog
    app.extensions["tracking"] = TrackingState(
        clicklog=clicklog,
        hasher=VisitorHasher(app.config["IP_HASH_KEY"]),
        secure="; Secure" if app.config["SESSION_COOKIE_SECURE"] else "",
    )
    app.extensions.setdefault("clock", utcnow)
