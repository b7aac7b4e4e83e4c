"""Payouts: settle partners' unpaid ledger entries, one payout per partner and currency.

A ledger entry is claimed by at most one payout: the claim is a guarded UPDATE (`payout_id IS
NULL`), and a run that finds some of what it read already claimed by a racing run gives up
that partner's payout instead of paying a different sum than it recorded.

A payout records the partner's payout details as they were when it was made; a partner
without payout details, or suspended, is not paid: its balance waits for a run after it
has details, or is reinstated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates import banking
from affiliates.exceptions import Conflict, NotFound
from affiliates.models import LedgerEntry, Partner, Payout
from affiliates.models.statuses import PartnerStatus, PayoutStatus
from affiliates.money import ZERO
from affiliates.services import audit, payout_details
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.viewer import Viewer, visible

NO_PAYOUT_DETAILS = "no_payout_details"
PARTNER_SUSPENDED = "partner_suspended"


@dataclass(frozen=True)
class Made:
    """A payout a run created, with how many conversions it pays."""

    payout: Payout
    conversion_count: int


@dataclass(frozen=True)
class Skipped:
    """A partner and currency a run would have paid, but could not: `reason` says why."""

    partner_id: int
    currency: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class Run:
    """What a payout run did: the payouts it made and the balances it left waiting."""

    made: list[Made]
    skipped: list[Skipped]


def masked_details(payout: Payout) -> dict[str, str | None] | None:
    """The payout's snapshot of payout details, numbers masked; None on older payouts."""
    if payout.method is None:
        return None
    return banking.masked(payout.method, payout.details or {})


def snapshot(payout: Payout) -> dict[str, Any]:
    """The fields an audit entry records before and after a change."""
    return {
        "partner_id": payout.partner_id,
        "currency": payout.currency,
        "amount": str(payout.amount),
        "status": payout.status,
        "reference": payout.reference,
        "reason": payout.reason,
        "payout_details": masked_details(payout),
    }


def run(
    session: Session,
    currency: str | None,
    min_amount: Decimal,
    actor: str,
    now: dt.datetime,
) -> Run:
    """One payout per partner and currency whose unpaid entries sum to `min_amount` or more,
    made out to the partner's payout details of the moment; without details, or to a
    suspended partner, none (listed as skipped, with the reason).

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
    made, skipped = [], []
    for (partner_id, code), rows in sorted(groups.items()):
        total = sum((row.amount for row in rows), ZERO)
        if total < min_amount or total <= ZERO:
            continue
        # read in the payout's own transaction: the status and the details of this moment
        status = session.scalar(select(Partner.status).where(Partner.id == partner_id))
        if status == PartnerStatus.SUSPENDED:
            session.rollback()
            skipped.append(Skipped(partner_id, code, total, PARTNER_SUSPENDED))
            continue
        details = payout_details.find(session, partner_id)
        if details is None:
            session.rollback()
            skipped.append(Skipped(partner_id, code, total, NO_PAYOUT_DETAILS))
            continue
        payout = Payout(partner_id=partner_id, currency=code, amount=total, status="pending",
                        created_at=now, method=details.method,
                        details=payout_details.fields(details))  # fmt: skip
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
    return Run(made, skipped)


@dataclass(frozen=True)
class PayoutFilters:
    """Which payouts a list shows: by partner and status."""

    partner_id: int | None = None
    status: str | None = None


def get(session: Session, payout_id: int, viewer: Viewer | None = None) -> Payout:
    """A payout; for a partner viewer, only its own (others are 'not found')."""
    payout = session.get(Payout, payout_id)
    if payout is None or not visible(viewer, payout.partner_id):
        raise NotFound(f"Payout {payout_id} does not exist.")
    return payout


def list_payouts(
    session: Session,
    filters: PayoutFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Payout]:
    """Payouts, newest first; a partner viewer sees its own only."""
    stmt = viewer.scope(select(Payout), Payout.partner_id, filters.partner_id)
    if filters.status is not None:
        stmt = stmt.where(Payout.status == filters.status)
    return paginate(session, stmt, Payout.id, limit, cursor)


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
    if payout.status != PayoutStatus.PENDING:
        raise Conflict(f"A {payout.status} payout cannot become {target}.")
    result = session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING)
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


REGISTRY_COLUMNS = ["payment_reference", "partner_id", "partner", "email", "amount", "currency",
                    "method", "details", *payout_details.COLUMNS]  # fmt: skip
_LABELS = {"holder_name": "holder", "bank_name": "bank", "bic": "BIC",
           "account_number": "account", "correspondent_account": "corr. account", "inn": "INN",
           "card_number": "card", "phone": "phone"}  # fmt: skip


def registry_csv(session: Session, status: str) -> str:
    """The bank registry as CSV: the payout id is the payment reference; the payout details
    are the payout's snapshot, in full (the one output that shows the numbers whole)."""
    out = io.StringIO()
    # RFC 4180's CRLF: the writer then quotes a cell holding a lone CR too, which with a
    # "\n" terminator it would leave bare, splitting the row for whoever reads it
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REGISTRY_COLUMNS)
    for payout, partner in registry(session, status):
        details = payout.details or {}
        summary = "; ".join(
            f"{_LABELS[name]} {value}"
            for name in banking.FIELDS.get(payout.method or "", ())
            if (value := details.get(name))
        )
        row = [payout.id, partner.id, partner.name, partner.email, f"{payout.amount:.2f}",
               payout.currency, payout.method or "", summary,
               *(details.get(name) or "" for name in payout_details.COLUMNS)]  # fmt: skip
        writer.writerow([_cell(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()


# A signed number is not a formula anyone can abuse: an SBP phone stays "+79123456789" for
# the bank's import rather than gain an apostrophe.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _cell(value: str) -> str:
    """No formula injection when the registry is opened in a spreadsheet."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
