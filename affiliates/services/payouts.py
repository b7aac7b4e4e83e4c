"""Payouts: settle partners' unpaid ledger entries, one payout per partner and currency.

A ledger entry is claimed by at most one payout: the claim is a guarded UPDATE (`payout_id IS
NULL`), and a run that finds some of what it read already claimed by a racing run gives up
that partner's payout instead of paying a different sum than it recorded.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates.exceptions import Conflict, NotFound
from affiliates.models import LedgerEntry, Partner, Payout
from affiliates.services import audit

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Made:
    """A payout a run created, with how many conversions it pays."""

    payout: Payout
    conversion_count: int


def snapshot(payout: Payout) -> dict[str, Any]:
    """The fields an audit entry records before and after a change."""
    return {
        "partner_id": payout.partner_id,
        "currency": payout.currency,
        "amount": str(payout.amount),
        "status": payout.status,
        "reference": payout.reference,
        "reason": payout.reason,
    }


def run(
    session: Session,
    currency: str | None,
    min_amount: Decimal,
    actor: str,
    now: dt.datetime,
) -> list[Made]:
    """One payout per partner and currency whose unpaid entries sum to `min_amount` or more.

    Each partner's payout is its own transaction, so a lost race costs only that payout.
    """
    stmt = select(
        LedgerEntry.id, LedgerEntry.partner_id, LedgerEntry.currency, LedgerEntry.amount,
        LedgerEntry.conversion_id,
    ).where(LedgerEntry.payout_id.is_(None))  # fmt: skip
    if currency is not None:
        stmt = stmt.where(LedgerEntry.currency == currency)
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in session.execute(stmt.order_by(LedgerEntry.id)):
        groups[(row.partner_id, row.currency)].append(row)
    session.rollback()  # end the read; each payout below is a transaction of its own
    made = []
    for (partner_id, code), rows in sorted(groups.items()):
        total = sum((row.amount for row in rows), ZERO)
        if total < min_amount or total <= ZERO:
            continue
        payout = Payout(partner_id=partner_id, currency=code, amount=total, status="pending",
                        created_at=now)  # fmt: skip
        session.add(payout)
        # the claim below needs the payout's id
        session.flush()
        ids = [row.id for row in rows]
        claimed = session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id.in_(ids), LedgerEntry.payout_id.is_(None))
            .values(payout_id=payout.id)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != len(ids):
            # a racing run claimed some of these entries first: its payout pays them
            session.rollback()
            continue
        audit.record(session, "payout", payout.id, "created", actor, None, snapshot(payout),
                     f"{len(ids)} ledger entries", at=now)  # fmt: skip
        session.commit()
        conversions = {row.conversion_id for row in rows if row.conversion_id is not None}
        made.append(Made(payout, len(conversions)))
    return made


def get(session: Session, payout_id: int, partner_id: int | None = None) -> Payout:
    """A payout; for a partner, only its own."""
    payout = session.get(Payout, payout_id)
    if payout is None or (partner_id is not None and payout.partner_id != partner_id):
        raise NotFound(f"Payout {payout_id} does not exist.")
    return payout


def entries(session: Session, payout_id: int) -> list[LedgerEntry]:
    """The payout's statement: the ledger entries it pays, oldest first."""
    return list(
        session.scalars(
            select(LedgerEntry).where(LedgerEntry.payout_id == payout_id).order_by(LedgerEntry.id)
        )
    )


def conversion_count(session: Session, payout_id: int) -> int:
    """How many conversions the payout's entries concern."""
    return len({e.conversion_id for e in entries(session, payout_id) if e.conversion_id})


def _settle(
    session: Session,
    payout_id: int,
    target: str,
    values: dict[str, Any],
    actor: str,
    reason: str,
) -> Payout:
    """Move a pending payout to `target` by a guarded UPDATE: of two racing changes one wins."""
    payout = get(session, payout_id)
    if payout.status != "pending":
        raise Conflict(f"A {payout.status} payout cannot become {target}.")
    result = session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == "pending")
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        session.rollback()
        session.refresh(payout)
        raise Conflict(f"A {payout.status} payout cannot become {target}.")
    before = snapshot(payout)
    payout.status = target
    for key, value in values.items():
        setattr(payout, key, value)
    after = snapshot(payout)
    if target == "failed":
        released = session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.payout_id == payout_id)
            .values(payout_id=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        after["released_entries"] = released
    audit.record(session, "payout", payout_id, target, actor, before, after, reason)
    session.commit()
    return payout


def mark_paid(
    session: Session, payout_id: int, reference: str, actor: str, now: dt.datetime
) -> Payout:
    """The bank has paid it: pending becomes paid, with the bank's reference."""
    return _settle(session, payout_id, "paid", {"reference": reference, "paid_at": now}, actor,
                   f"paid: {reference}")  # fmt: skip


def mark_failed(session: Session, payout_id: int, reason: str, actor: str) -> Payout:
    """The transfer failed: pending becomes failed and its entries return to the balance."""
    return _settle(session, payout_id, "failed", {"reason": reason}, actor, reason)


def registry(session: Session, status: str) -> list[tuple[Payout, Partner]]:
    """Payouts of a status with their partners, for the bank registry."""
    rows = session.execute(
        select(Payout, Partner)
        .join(Partner, Partner.id == Payout.partner_id)
        .where(Payout.status == status)
        .order_by(Payout.id)
    )
    return [(row[0], row[1]) for row in rows]
