"""The audit trail, read (admin only)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from affiliates.api.schemas.common import ListQuery, Output, Timestamp
from affiliates.validation import Id


class AuditEntryQuery(ListQuery):
    entity: str | None = Field(
        None, max_length=32, description="`conversion`, `payout`, `ledger_entry`, …"
    )
    entity_id: Id | None = None
    actor: str | None = Field(None, max_length=200, examples=["api-key:1:admin", "cli"])


class AuditEntryOut(Output):
    id: int
    entity: str
    entity_id: int
    action: str
    actor: str
    at: Timestamp
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
