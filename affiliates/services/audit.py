"""The append-only audit trail: who changed what, when, from what, to what, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from affiliates.database import Bound, Prepared, utcnow
from affiliates.models import AuditEntry

# Not the unit of work: an audit entry is only ever inserted, never changed; and a prepared
# statement, as every conversion intake writes one.
_INSERT = Prepared(cast(Table, AuditEntry.__table__).insert())


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
    conn = session.connection()
    prepared(conn.dialect, entity, entity_id, action, actor, before, after, reason, at).run(conn)


def prepared(
    dialect: Dialect,
    entity: str,
    entity_id: int,
    action: str,
    actor: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> Bound:
    """The INSERT of an audit entry with its values processed, to run in the transaction of
    the change it records (`set("entity_id", ...)` when the id is known only later)."""
    return _INSERT.bind(
        dialect,
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
