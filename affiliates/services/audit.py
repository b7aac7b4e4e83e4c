"""The append-only audit trail: who changed what, when, from what, to what, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.models import AuditEntry

# Core, not the unit of work: an audit entry is only ever inserted, never changed.
_INSERT = cast(Table, AuditEntry.__table__).insert()


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
    session.connection().execute(
        _INSERT,
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
