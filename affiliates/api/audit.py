"""The audit trail (admin): every status change, adjustment, payout and edit, newest first."""

from __future__ import annotations

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import AuditEntryOut, AuditEntryQuery, Page
from affiliates.extensions import db
from affiliates.services import audit


@endpoint("/audit-entries", summary="List audit entries", query=AuditEntryQuery,
          response=Page[AuditEntryOut])  # fmt: skip
def list_audit_entries(principal: Principal, query: AuditEntryQuery) -> Page[AuditEntryOut]:
    """Who changed what, when, from what to what, and why; by entity, object and actor."""
    filters = audit.AuditFilters(entity=query.entity, entity_id=query.entity_id,
                                 actor=query.actor)  # fmt: skip
    page = audit.list_audit_entries(db.session, filters, principal.viewer, limit=query.limit,
                                    cursor=query.cursor)  # fmt: skip
    return Page[AuditEntryOut](items=[AuditEntryOut.model_validate(e) for e in page.items],
                               next_cursor=page.next_cursor)  # fmt: skip
