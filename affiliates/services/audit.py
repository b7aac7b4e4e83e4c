"""The append-only audit trail: who changed what, when, from what, to what, and why.

It is staff's to read: an entry belongs to no partner, so a partner viewer sees none."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.exceptions import NotFound
from affiliates.models import AuditEntry
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.viewer import Viewer, visible


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


@dataclass(frozen=True)
class AuditFilters:
    """Which audit entries a list shows: of one entity (`conversion`, `payout`, ...) or one
    object of it, by one actor."""

    entity: str | None = None
    entity_id: int | None = None
    actor: str | None = None


def get_audit_entry(session: Session, entry_id: int, viewer: Viewer | None = None) -> AuditEntry:
    """One audit entry; staff only (for a partner viewer, 'not found')."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None or not visible(viewer, None):
        raise NotFound(f"Audit entry {entry_id} does not exist.")
    return entry


def list_audit_entries(
    session: Session,
    filters: AuditFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """Audit entries, newest first; staff only (a partner viewer's list is empty)."""
    stmt = viewer.scope(select(AuditEntry), None)
    if filters.entity is not None:
        stmt = stmt.where(AuditEntry.entity == filters.entity)
    if filters.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == filters.entity_id)
    if filters.actor is not None:
        stmt = stmt.where(AuditEntry.actor == filters.actor)
    return paginate(session, stmt, AuditEntry.id, limit, cursor)
