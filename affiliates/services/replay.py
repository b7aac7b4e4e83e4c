"""Past conversions replayed under rules: draft rules simulated (nothing is written), and
pending conversions recalculated under the current rules (a dry run first, then audited)."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates import commissions
from affiliates.database import utcnow
from affiliates.exceptions import Invalid
from affiliates.models import Conversion, Offer
from affiliates.money import CENT, ZERO
from affiliates.services import audit, commission_rules
from affiliates.services.conversions import snapshot

CLOSED = ("rejected", "reversed")
COMMIT_EVERY = 500  # recalculated conversions per transaction


def _offer(session: Session, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise Invalid("offer_id", f"Offer {offer_id} does not exist.")
    return offer


def _check_period(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise Invalid("to", "The period must end after it starts.")


def _month_start(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class MonthCounts:
    """How many non-rejected conversions of the offer each partner had earlier in the same
    calendar month (UTC) and of the same type: what tiers go by, counted as
    `commission_rules.month_conversions` counts them, but read once for a whole period."""

    def __init__(self, session: Session, offer_id: int, start: dt.datetime, end: dt.datetime):
        rows = session.execute(
            select(Conversion.partner_id, Conversion.type, Conversion.occurred_at)
            .where(
                Conversion.offer_id == offer_id,
                Conversion.partner_id.is_not(None),
                Conversion.status != "rejected",
                Conversion.occurred_at >= _month_start(start),
                Conversion.occurred_at < end,
            )
            .order_by(Conversion.occurred_at)
        )
        self._times: dict[tuple[int | None, str], list[dt.datetime]] = {}
        for partner_id, kind, at in rows:
            self._times.setdefault((partner_id, kind), []).append(at)

    def __call__(self, partner_id: int | None, kind: str, at: dt.datetime) -> int:
        times = self._times.get((partner_id, kind), [])  # none for organic conversions
        # strictly earlier, as the engine counts: a conversion never counts itself
        return bisect.bisect_left(times, at) - bisect.bisect_left(times, _month_start(at))


# Simulation -------------------------------------------------------------------------------


def _per_head(total: Decimal, count: int) -> Decimal | None:
    if not count:
        return None
    return (total / count).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Tally:
    """What one partner's (or all) replayed conversions were paid and would be paid."""

    partner_id: int | None = None
    conversions: int = 0
    paid: Decimal = ZERO
    draft: Decimal = ZERO
    new_customers: int = 0
    new_customers_paid: Decimal = ZERO
    new_customers_draft: Decimal = ZERO

    def add(self, paid: Decimal, draft: Decimal, new_customer: bool) -> None:
        self.conversions += 1
        self.paid += paid
        self.draft += draft
        if new_customer:
            self.new_customers += 1
            self.new_customers_paid += paid
            self.new_customers_draft += draft

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversions": self.conversions,
            "paid": self.paid,
            "draft": self.draft,
            "difference": self.draft - self.paid,
            "new_customers": self.new_customers,
            "cost_per_new_customer_paid": _per_head(self.new_customers_paid, self.new_customers),
            "cost_per_new_customer_draft": _per_head(self.new_customers_draft, self.new_customers),
        }


@dataclass(frozen=True)
class Simulation:
    currency: str
    target_cac: Decimal | None
    totals: Tally
    partners: list[Tally]


def _drafts(
    session: Session, offer: Offer, drafts: Sequence[Mapping[str, Any]], now: dt.datetime
) -> list[commissions.Rule]:
    rules = []
    for index, values in enumerate(drafts):
        prefix = f"rules.{index}"
        if values.get("offer_id") not in (None, offer.id):
            raise Invalid(f"{prefix}.offer_id", "A draft for another offer pays nothing here.")
        try:
            # published in order, each draft would be newer than those before it
            created_at = now + dt.timedelta(microseconds=index)
            rules.append(commission_rules.draft_rule(session, values, -(index + 1), created_at))
        except Invalid as exc:
            raise Invalid(f"{prefix}.{exc.errors[0]['field']}", exc.detail) from None
    return rules


def simulate(
    session: Session,
    offer_id: int,
    start: dt.datetime,
    end: dt.datetime,
    drafts: Sequence[Mapping[str, Any]],
    replace: bool,
    now: dt.datetime,
) -> Simulation:
    """What draft rules would have paid the offer's live conversions of [start, end), next
    to what those conversions were paid; reads only, writes nothing."""
    offer = _offer(session, offer_id)
    _check_period(start, end)
    current = commission_rules.rules_for(session, offer.id)
    # drafts would be published after every rule there is: on a tie, they are the newest
    newest = max((rule.created_at for rule in current if rule.created_at), default=now)
    rules = _drafts(session, offer, drafts, max(now, newest + dt.timedelta(microseconds=1)))
    if not replace:
        rules = [*current, *rules]
    counts = MonthCounts(session, offer.id, start, end)
    replayed = session.execute(
        select(
            Conversion.partner_id,
            Conversion.type,
            Conversion.amount,
            Conversion.refunded_amount,
            Conversion.occurred_at,
            Conversion.items,
            Conversion.new_customer,
            Conversion.commission,
        )
        .where(
            Conversion.offer_id == offer.id,
            Conversion.status.not_in(CLOSED),
            Conversion.occurred_at >= start,
            Conversion.occurred_at < end,
        )
        .order_by(Conversion.occurred_at, Conversion.id)
    )
    totals = Tally()
    partners: dict[int | None, Tally] = {}
    for row in replayed:
        count = counts(row.partner_id, row.type, row.occurred_at)
        draft = commission_rules.for_recorded_conversion(rules, offer, row, count).amount
        partner = partners.setdefault(row.partner_id, Tally(partner_id=row.partner_id))
        for tally in (totals, partner):
            tally.add(row.commission, draft, row.new_customer is True)
    # by partner id; organic conversions (no partner, paid nothing either way) last
    ordered = sorted(partners.values(), key=lambda t: (t.partner_id is None, t.partner_id or 0))
    return Simulation(offer.currency, offer.target_cac, totals, ordered)


# Recalculation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One pending conversion whose commission the current rules set differently."""

    id: int
    partner_id: int | None
    occurred_at: dt.datetime
    before: tuple[Decimal, int | None, int | None]  # commission, rule id, rule version
    after: commissions.Commission


@dataclass(frozen=True)
class Recalculation:
    dry_run: bool
    changed: list[Change]


def _state(conversion: Conversion) -> dict[str, Any]:
    return {
        **snapshot(conversion),
        "rule_id": conversion.rule_id,
        "rule_version": conversion.rule_version,
    }


def recalculate(
    session: Session,
    offer_id: int,
    start: dt.datetime,
    end: dt.datetime,
    actor: str,
    dry_run: bool = True,
    now: dt.datetime | None = None,
) -> Recalculation:
    """Recompute the offer's pending conversions of [start, end) under the current rules;
    unless a dry run, store each change with an audit entry, in one transaction."""
    offer = _offer(session, offer_id)
    _check_period(start, end)
    rules = commission_rules.rules_for(session, offer.id)
    counts = MonthCounts(session, offer.id, start, end)
    pending = session.scalars(
        select(Conversion)
        .where(
            Conversion.offer_id == offer.id,
            Conversion.status == "pending",
            Conversion.occurred_at >= start,
            Conversion.occurred_at < end,
        )
        .order_by(Conversion.occurred_at, Conversion.id)
    )
    found: list[tuple[Conversion, Change]] = []
    for conversion in pending:
        count = counts(conversion.partner_id, conversion.type, conversion.occurred_at)
        after = commission_rules.for_recorded_conversion(rules, offer, conversion, count)
        before = (conversion.commission, conversion.rule_id, conversion.rule_version)
        if (after.amount, after.rule_id, after.rule_version) != before:
            change = Change(conversion.id, conversion.partner_id, conversion.occurred_at,
                            before, after)  # fmt: skip
            found.append((conversion, change))
    if dry_run:
        return Recalculation(True, [change for _, change in found])
    at = now or utcnow()
    reason = (
        f"recalculation of offer {offer.id}'s pending conversions from {start.isoformat()} "
        f"to {end.isoformat()} under the current rules, requested by {actor}"
    )
    applied = []
    for conversion, change in found:
        before_state = _state(conversion)
        values = {
            "commission": change.after.amount,
            "rule_id": change.after.rule_id,
            "rule_version": change.after.rule_version,
            "explanation": [
                *(conversion.explanation or []),
                f"recalculated: {change.after.explanation}",
            ],
            "updated_at": at,
        }
        # guarded: a conversion reviewed or refunded meanwhile keeps what that gave it
        result = session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion.id,
                Conversion.status == "pending",
                Conversion.commission == conversion.commission,
                Conversion.refunded_amount == conversion.refunded_amount,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue
        after_state = {**before_state, "commission": str(change.after.amount),
                       "rule_id": change.after.rule_id,
                       "rule_version": change.after.rule_version}  # fmt: skip
        audit.record(session, "conversion", conversion.id, "recalculated", actor, before_state,
                     after_state, reason, at=at)  # fmt: skip
        applied.append(change)
        if len(applied) % COMMIT_EVERY == 0:
            # a big run commits as it goes, so SQLite's one writer lock is never held long
            # enough for intake to time out; each change lands with its audit entry
            session.commit()
    session.commit()
    return Recalculation(False, applied)
