"""Refunds: a conversion refunded in full (reversed, commission 0.00) or in part (commission
on what remains), each refund applied once.

A refund sent with a `refund_id` (the merchant's own reference) is applied once however
often it is sent: the unique key of (conversion, refund_id) refuses a repeat in the same
transaction that would change the conversion, so of racing copies one applies and the
others get its answer. A refund without one keeps the old rule: each call refunds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.exceptions import Conflict, Invalid
from affiliates.models import Conversion, Offer, Refund
from affiliates.models.statuses import ConversionStatus
from affiliates.money import ZERO
from affiliates.services import audit, commission_rules, ledger
from affiliates.services.conversions import get, snapshot
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.viewer import Viewer

# changes with every later write of the row, and no answer shows it
_NOT_ANSWERED = frozenset({"updated_at"})


@dataclass(frozen=True)
class RefundOutcome:
    """What a refund call did: the conversion as it is now, the refund's row (None when
    there was nothing left to refund), and whether this call applied it (False: a repeat,
    answered with `refund.answer`, the conversion as the first call left it)."""

    conversion: Conversion
    refund: Refund | None
    applied: bool


def image(conversion: Conversion) -> dict[str, Any]:
    """The conversion's columns as JSON values: what a refund stores as its answer."""
    values: dict[str, Any] = {}
    for column in Conversion.__table__.columns:
        if column.key in _NOT_ANSWERED:
            continue
        value = getattr(conversion, column.key)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        values[column.key] = value
    return values


def _same(found: Refund, amount: Decimal | None) -> bool:
    """Is a call with `amount` a repeat of `found`? Without an amount it asks for the rest,
    as `found` did when it was full; with one, it must be the amount `found` took."""
    return found.full if amount is None else amount == found.amount


def _repeat(conversion: Conversion, found: Refund, amount: Decimal | None) -> RefundOutcome:
    """A repeat of `found`: its answer again, or a Conflict when the amount differs."""
    if not _same(found, amount):
        asked = f"the rest ({found.amount})" if found.full else f"{found.amount}"
        raise Conflict(
            f"Refund {found.refund_id} of conversion {conversion.id} was already applied "
            f"for {asked}.",
            [{"field": "amount", "message": "Differs from the refund already applied."}],
        )
    return RefundOutcome(conversion, found, applied=False)


def _existing(session: Session, conversion_id: int, refund_id: str) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.conversion_id == conversion_id, Refund.refund_id == refund_id)
    ).one_or_none()


def refund(
    session: Session,
    conversion_id: int,
    amount: Decimal | None,
    actor: str,
    refund_id: str | None = None,
) -> RefundOutcome:
    """Refund all (reversed, commission 0.00) or part (commission on what remains); with a
    `refund_id`, once: a repeat changes nothing and gets the first answer, a repeat with
    another amount is a Conflict."""
    conversion = get(session, conversion_id)
    while True:
        if refund_id is not None and (found := _existing(session, conversion.id, refund_id)):
            return _repeat(conversion, found, amount)  # a shortcut; the key decides
        if conversion.status == ConversionStatus.REJECTED:
            raise Conflict("A rejected conversion cannot be refunded.")
        remaining = conversion.amount - conversion.refunded_amount
        refunded = remaining if amount is None else amount
        if refunded > remaining:
            raise Invalid("amount", f"Only {remaining} remains to refund.")
        if refunded == ZERO and conversion.status == ConversionStatus.REVERSED:
            return RefundOutcome(conversion, None, applied=False)  # nothing left: no change
        row = Refund(conversion_id=conversion.id, refund_id=refund_id, amount=refunded,
                     full=amount is None, actor=actor, answer={})  # fmt: skip
        session.add(row)
        try:
            # The refund's row first, before the conversion is touched: of racing copies of
            # one refund_id the unique key lets one in, and the others wait here for it to
            # commit (or roll back) and then fail, changing nothing.
            session.flush()
        except IntegrityError:
            session.rollback()
            if refund_id is None or (found := _existing(session, conversion.id, refund_id)) is None:
                raise
            session.refresh(conversion)
            return _repeat(conversion, found, amount)
        # Compare-and-set, never read-then-write: when a racing refund or review changed the
        # row since we read it, read it again, so refunds never add up past the amount.
        result = session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion.id,
                Conversion.status == conversion.status,
                Conversion.refunded_amount == conversion.refunded_amount,
            )
            .values(refunded_amount=conversion.refunded_amount + refunded)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            break
        session.rollback()  # the refund's row goes too: the next turn writes it again
        session.refresh(conversion)
    before = snapshot(conversion)
    conversion.refunded_amount = conversion.refunded_amount + refunded
    if conversion.refunded_amount >= conversion.amount:
        conversion.status = ConversionStatus.REVERSED
        conversion.commission = ZERO
    else:
        offer = session.get_one(Offer, conversion.offer_id)
        # the rule version the conversion got, on what remains of the order
        conversion.commission = commission_rules.for_remaining_amount(
            session, conversion, offer
        ).amount
    reason = f"refund of {refunded}" + (f", refund_id {refund_id}" if refund_id else "")
    audit.record(session, "conversion", conversion.id, "refunded", actor, before,
                 snapshot(conversion), reason)  # fmt: skip
    ledger.follow_conversion(session, conversion_id=conversion.id,
                             partner_id=conversion.partner_id, currency=conversion.currency,
                             status=conversion.status, commission=conversion.commission,
                             actor=actor)  # fmt: skip
    row.answer = image(conversion)
    session.commit()
    return RefundOutcome(conversion, row, applied=True)


def list_refunds(
    session: Session,
    conversion_id: int,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Refund]:
    """A conversion's refunds, newest first; another partner's conversion is not found."""
    get(session, conversion_id, viewer)
    stmt = select(Refund).where(Refund.conversion_id == conversion_id)
    return paginate(session, stmt, Refund.id, limit, cursor)
