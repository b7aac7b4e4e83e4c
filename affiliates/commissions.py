"""Commission resolution: pure functions over rules and an order's facts.

Which rule pays, and how much, is decided here with no database, no Flask and no clock.
Money is exact: Decimal throughout, rounded half-up to the currency's minor unit once, at
the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from affiliates.money import CENT, ZERO


@dataclass(frozen=True)
class Tier:
    min_conversions: int
    value: Decimal


@dataclass(frozen=True)
class Rule:
    """One version of a commission rule."""

    id: int
    version: int
    type: str  # sale | lead
    kind: str  # fixed | percent
    value: Decimal
    offer_id: int | None = None
    partner_id: int | None = None
    tiers: tuple[Tier, ...] = ()
    category: str | None = None
    new_customers_only: bool = False
    min_order_amount: Decimal | None = None
    cap: Decimal | None = None
    priority: int = 0
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    active: bool = True
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Item:
    sku: str
    amount: Decimal  # the line's total
    quantity: int = 1
    category: str | None = None


@dataclass(frozen=True)
class Order:
    """The facts a commission depends on."""

    offer_id: int
    partner_id: int | None
    type: str
    amount: Decimal  # what remains after refunds
    occurred_at: dt.datetime
    currency: str = "RUB"
    items: tuple[Item, ...] = ()
    new_customer: bool | None = None
    # the partner's non-rejected conversions of this offer and type earlier this month (UTC)
    month_conversions: int = 0
    target_cac: Decimal | None = None
    minor_units: int = 2


@dataclass(frozen=True)
class Commission:
    amount: Decimal
    rule_id: int | None
    rule_version: int | None
    explanation: str
    steps: tuple[str, ...] = field(default_factory=tuple)


def money(value: Decimal, currency: str) -> str:
    """'1 000.00 RUB': thousands grouped with a no-break space, two places."""
    return f"{value:,.2f}".replace(",", "\u00a0") + f" {currency}"


def matches(rule: Rule, order: Order) -> bool:
    """Whether a rule applies to this order at all."""
    if not rule.active or rule.type != order.type:
        return False
    if rule.offer_id is not None and rule.offer_id != order.offer_id:
        return False
    if rule.partner_id is not None and rule.partner_id != order.partner_id:
        return False
    if rule.starts_at is not None and order.occurred_at < rule.starts_at:
        return False
    if rule.ends_at is not None and order.occurred_at >= rule.ends_at:
        return False
    if rule.new_customers_only and order.new_customer is not True:
        return False
    if rule.min_order_amount is not None and order.amount < rule.min_order_amount:
        return False
    if rule.category is not None:
        return any(item.category == rule.category for item in order.items)
    return True


def _scope_rank(rule: Rule) -> int:
    """Partner-specific beats offer-specific beats program-wide."""
    if rule.partner_id is not None:
        return 2
    if rule.offer_id is not None:
        return 1
    return 0


def _newest(rule: Rule) -> tuple[dt.datetime, int]:
    return (rule.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), rule.id)


def choose(rules: Sequence[Rule], order: Order) -> Rule | None:
    """The rule that pays: highest priority; then partner, offer, global; then the newest."""
    candidates = [rule for rule in rules if matches(rule, order)]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.priority, _scope_rank(r), _newest(r)))


def _value(rule: Rule, order: Order) -> tuple[Decimal, str | None]:
    reached = [tier for tier in rule.tiers if order.month_conversions >= tier.min_conversions]
    if not reached:
        return rule.value, None
    tier = max(reached, key=lambda t: t.min_conversions)
    return tier.value, (
        f"tier for {tier.min_conversions}+ conversions this month "
        f"({order.month_conversions} so far)"
    )


def commission(rules: Sequence[Rule], order: Order) -> Commission:
    """Resolve the paying rule and compute the commission, explaining each step."""
    if order.partner_id is None:
        return Commission(ZERO, None, None, "organic: no partner, no commission")
    rule = choose(rules, order)
    if rule is None:
        return Commission(ZERO, None, None, "no commission rule matches: 0.00")
    value, tier_note = _value(rule, order)
    steps = [f"rule {rule.id} v{rule.version}"]
    if rule.kind == "percent":
        if rule.category is not None:
            lines = [item for item in order.items if item.category == rule.category]
            # the lines as sent, but never more than what remains of the order after refunds
            base = min(sum((item.amount for item in lines), ZERO), order.amount)
            count = sum(item.quantity for item in lines)
            items = "item" if count == 1 else "items"
            subject = f"{money(base, order.currency)} on {count} {items} in {rule.category}"
        else:
            base = order.amount
            subject = money(base, order.currency)
        raw = base * value / 100
        text = f"{value.normalize():f}% of {subject} = {money(_round(raw, order), order.currency)}"
    else:
        raw = value
        text = f"fixed {money(value, order.currency)}"
    cap, cap_name = rule.cap, "the rule's cap"
    if cap is None and order.new_customer and order.target_cac is not None:
        cap, cap_name = order.target_cac, "the target CAC"
    if cap is not None and raw > cap:
        raw = cap
        text += f"; capped at {cap_name} {money(cap, order.currency)}"
    amount = _round(max(raw, ZERO), order)
    steps.append(text)
    if tier_note:
        steps.append(tier_note)
        text += f"; {tier_note}"
    return Commission(amount, rule.id, rule.version, text, tuple(steps))


def _round(value: Decimal, order: Order) -> Decimal:
    """Half-up to the currency's minor unit, once, at the end; stored with two places."""
    unit = Decimal(1).scaleb(-order.minor_units)
    return value.quantize(unit, rounding=ROUND_HALF_UP).quantize(CENT)
