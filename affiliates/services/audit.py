"""The append-only audit trail: who changed what, when, from what, to what, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.models import AuditEntry


def record(
    session: Session,
    entity: str,
    entity_id: int,
    action: str,
    actor: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Add an audit entry to the current transaction (committed with the change it records)."""
    # an INSERT, not the unit of work: an audit entry is only ever inserted, never changed
    session.execute(
        insert(AuditEntry),
        {
            "entity": entity,
            "entity_id": entity_id,
            "action": action,
            "actor": actor,
            "at": at or utcnow(),
            "before": before,
            "after": after,
            "reason": reason,
        },
    )
