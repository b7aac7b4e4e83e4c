"""The partners' ledger: approved commissions, their reversals and manual adjustments.

Entries are only ever appended; a balance is their sum. An entry a payout has claimed is
never rewritten: a refund after payout is a new, negative entry that nets against the
partner's next payout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.exceptions import Invalid, NotFound
from affiliates.models import LedgerEntry, Partner, Payout
from affiliates.money import CENT, ZERO
from affiliates.services import audit
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.program import get_partner
from affiliates.services.viewer import Viewer, visible


def _append(
    session: Session,
    *,
    partner_id: int,
    currency: str,
    amount: Decimal,
    kind: str,
    actor: str,
    conversion_id: int | None = None,
    memo: str | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(partner_id=partner_id, currency=currency, amount=amount, kind=kind,
                        conversion_id=conversion_id, memo=memo, actor=actor)  # fmt: skip
    session.add(entry)
    # the id is wanted by the caller's audit entry, written in the same transaction
    session.flush()
    return entry


def follow_conversion(
    session: Session,
    *,
    conversion_id: int,
    partner_id: int | None,
    currency: str,
    status: str,
    commission: Decimal,
    actor: str,
) -> LedgerEntry | None:
    """Bring the ledger in line with a conversion whose status or commission just changed.

    Called inside the transaction of the change, after the guarded UPDATE that won it, so
    concurrent changes of one conversion reach here one at a time. An approved conversion
    earns one commission entry (the unique index is the guard); once it has one, any later
    drop of what it is owed (a refund, a reversal, a rejection) is a new entry for the
    difference.
    """
    if partner_id is None:
        return None  # organic: nobody to pay
    rows = session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount).where(
            LedgerEntry.conversion_id == conversion_id
        )
    ).all()
    if not any(kind == "commission" for kind, _ in rows):
        if status != "approved" or commission <= ZERO:
            return None  # nothing earned yet (pending, or closed before approval)
        return _append(session, partner_id=partner_id, currency=currency, amount=commission,
                       kind="commission", actor=actor, conversion_id=conversion_id,
                       memo=f"commission on conversion {conversion_id}")  # fmt: skip
    owed = commission if status == "approved" else ZERO
    difference = owed - sum((amount for _, amount in rows), ZERO)
    if difference == ZERO:
        return None
    return _append(session, partner_id=partner_id, currency=currency, amount=difference,
                   kind="reversal" if difference < ZERO else "adjustment", actor=actor,
                   conversion_id=conversion_id,
                   memo=f"conversion {conversion_id} now {status}, commission {owed}")  # fmt: skip


def _entry_snapshot(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "partner_id": entry.partner_id,
        "currency": entry.currency,
        "amount": str(entry.amount),
        "kind": entry.kind,
        "conversion_id": entry.conversion_id,
        "memo": entry.memo,
    }


def adjust(
    session: Session,
    partner_id: int,
    amount: Decimal,
    currency: str,
    memo: str,
    actor: str,
) -> LedgerEntry:
    """A manual adjustment (a bonus, or a correction down), audited."""
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"Partner {partner_id} does not exist.")
    amount = Decimal(amount).quantize(CENT)
    if amount == ZERO:
        raise Invalid("amount", "An adjustment of 0.00 changes nothing.")
    entry = _append(session, partner_id=partner_id, currency=currency, amount=amount,
                    kind="adjustment", actor=actor, memo=memo)  # fmt: skip
    audit.record(session, "ledger_entry", entry.id, "adjustment", actor, None,
                 _entry_snapshot(entry), memo)  # fmt: skip
    session.commit()
    return entry


def balances(
    session: Session, partner_id: int, viewer: Viewer | None = None
) -> dict[str, dict[str, Decimal]]:
    """Per currency: `unpaid` (in no payout), `in_payout` (in a pending payout) and `paid`;
    a partner viewer reads only its own."""
    get_partner(session, partner_id, viewer)
    rows = session.execute(
        select(LedgerEntry.currency, LedgerEntry.amount, Payout.status)
        .outerjoin(Payout, Payout.id == LedgerEntry.payout_id)
        .where(LedgerEntry.partner_id == partner_id)
    ).all()
    # summed in Python: exact Decimal on every database (SQLite has no decimal type)
    result: dict[str, dict[str, Decimal]] = {}
    for currency, amount, payout_status in rows:
        sums = result.setdefault(currency, {"unpaid": ZERO, "in_payout": ZERO, "paid": ZERO})
        bucket = {None: "unpaid", "pending": "in_payout", "paid": "paid"}[payout_status]
        sums[bucket] += amount
    return dict(sorted(result.items()))


@dataclass(frozen=True)
class LedgerFilters:
    """Which ledger entries a list shows: by partner, currency and kind."""

    partner_id: int | None = None
    currency: str | None = None
    kind: str | None = None


def get_ledger_entry(session: Session, entry_id: int, viewer: Viewer | None = None) -> LedgerEntry:
    """One ledger entry; for a partner viewer, only its own (others are 'not found')."""
    entry = session.get(LedgerEntry, entry_id)
    if entry is None or not visible(viewer, entry.partner_id):
        raise NotFound(f"Ledger entry {entry_id} does not exist.")
    return entry


def list_ledger_entries(
    session: Session,
    filters: LedgerFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[LedgerEntry]:
    """Ledger entries, newest first; a partner viewer sees its own only."""
    stmt = viewer.scope(select(LedgerEntry), LedgerEntry.partner_id, filters.partner_id)
    if filters.currency is not None:
        stmt = stmt.where(LedgerEntry.currency == filters.currency)
    if filters.kind is not None:
        stmt = stmt.where(LedgerEntry.kind == filters.kind)
    return paginate(session, stmt, LedgerEntry.id, limit, cursor)
