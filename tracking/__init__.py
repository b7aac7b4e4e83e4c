"""The hot path: redirector, click log, UTM, promo-code checks. Nothing slow on import."""

from __future__ import annotations

from typing import Any

from tracking.clicklog import ClickLog
from tracking.visitors import VisitorHasher


def init_app(app: Any, engine: Any) -> None:
    """Attach the click log, the visitor hasher and the clock to the app."""
    from affiliates.database import utcnow

    app.extensions["clicklog"] = ClickLog(engine, cache_seconds=app.config["LINK_CACHE_SECONDS"])
    app.extensions["visitor_hasher"] = VisitorHasher(app.config["IP_HASH_KEY"])
    app.extensions.setdefault("clock", utcnow)
