"""Partners' payout details: the method (bank transfer, card, SBP) and its fields.

A changed bank account is a classic way to steal a payout, so every change is audited with
the numbers masked (the audit trail names which fields changed, never their values), and a
payout keeps a snapshot of the details it was made with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates import banking
from affiliates.exceptions import NotFound
from affiliates.models import Partner, PayoutDetails
from affiliates.services import audit
from affiliates.services.viewer import Viewer, visible

# Every column of a method's fields; the ones another method uses are kept NULL.
COLUMNS = banking.ALL_FIELDS


def find(session: Session, partner_id: int) -> PayoutDetails | None:
    """The partner's payout details, if it has any."""
    return session.scalar(select(PayoutDetails).where(PayoutDetails.partner_id == partner_id))


def get(session: Session, partner_id: int, viewer: Viewer | None = None) -> PayoutDetails:
    """The partner's payout details; 404 for an unknown partner or one with none yet, and
    for a partner viewer naming another partner."""
    if session.get(Partner, partner_id) is None or not visible(viewer, partner_id):
        raise NotFound(f"Partner {partner_id} does not exist.")
    details = find(session, partner_id)
    if details is None:
        raise NotFound(f"Partner {partner_id} has no payout details yet.")
    return details


def fields(details: PayoutDetails) -> dict[str, str | None]:
    """The method's fields in full (what a payout's snapshot and the bank registry hold)."""
    return {name: getattr(details, name) for name in banking.FIELDS[details.method]}


def masked(details: PayoutDetails) -> dict[str, str | None]:
    """The details as shown outside the bank registry: numbers cut to their last digits."""
    return banking.masked(details.method, fields(details))


def save(
    session: Session,
    partner_id: int,
    method: str,
    values: Mapping[str, Any],
    actor: str,
    now: dt.datetime,
) -> PayoutDetails:
    """Set (create or replace) a partner's payout details from validated values; audited.

    Saving the same details again changes nothing and writes no audit entry.
    """
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"Partner {partner_id} does not exist.")
    wanted = {name: values.get(name) for name in banking.FIELDS[method]}
    try:
        return _save(session, partner_id, method, wanted, actor, now)
    except IntegrityError:
        # two first saves raced and the other one's row won: this one replaces it
        session.rollback()
        return _save(session, partner_id, method, wanted, actor, now)


def _save(
    session: Session,
    partner_id: int,
    method: str,
    wanted: dict[str, str | None],
    actor: str,
    now: dt.datetime,
) -> PayoutDetails:
    # A write before the read: it takes SQLite's write lock (a plain read would take none)
    # and PostgreSQL's lock on the row, so two edits of one partner's details queue up and
    # each audit entry's "before" is what that edit really replaced.
    while True:
        locked = session.execute(
            update(PayoutDetails)
            .where(PayoutDetails.partner_id == partner_id)
            .values(updated_at=PayoutDetails.updated_at)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        details = session.scalar(
            select(PayoutDetails)
            .where(PayoutDetails.partner_id == partner_id)
            .execution_options(populate_existing=True)
        )
        if details is None or locked:
            break
        # A racing first save committed its row between the two statements (PostgreSQL reads
        # each statement afresh): that row is not locked yet, so lock it and read it again.
        session.rollback()
    if details is not None and details.method == method and fields(details) == wanted:
        session.rollback()  # nothing to change: release the lock
        return details
    before = None if details is None else (details.method, fields(details), masked(details))
    if details is None:
        details = PayoutDetails(partner_id=partner_id, created_at=now)
        session.add(details)
    details.method = method
    for name in COLUMNS:
        setattr(details, name, wanted.get(name))
    details.updated_at = now
    # written before the audit entry, so the unique partner_id refuses a racing first save here
    session.flush()
    audit.record(session, "payout_details", partner_id, "changed" if before else "created",
                 actor, before[2] if before else None, masked(details),
                 _what_changed(before, method, wanted), at=now)  # fmt: skip
    session.commit()
    return details


def _what_changed(
    before: tuple[str, dict[str, str | None], dict[str, str | None]] | None,
    method: str,
    wanted: dict[str, str | None],
) -> str:
    """Which fields changed, by name only: masked values may look alike (same last digits)."""
    if before is None:
        return f"payout details set: {method}"
    old_method, old_fields, _ = before
    if old_method != method:
        return f"method changed: {old_method} -> {method}"
    changed = [name for name in banking.FIELDS[method] if old_fields.get(name) != wanted[name]]
    return "changed: " + ", ".join(changed)
