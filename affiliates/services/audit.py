"""The append-only audit trail: who changed what, when, from what, to what, and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

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
) -> None:
    """Add an audit entry to the current transaction (committed with the change it records)."""
    session.add(
        AuditEntry(
            entity=entity,
            entity_id=entity_id,
            action=action,
            actor=actor,
            before=before,
            after=after,
            reason=reason,
        )
    )
