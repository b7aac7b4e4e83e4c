"""Commission rules: publish, edit (a new version), deactivate, and resolve for an order."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from babel.numbers import get_currency_precision
from sqlalchemy import Connection, Table, func, or_, select
from sqlalchemy.orm import Session

from affiliates import commissions
from affiliates.exceptions import Invalid, NotFound
from affiliates.models import CommissionRule, CommissionRuleVersion, Conversion, Offer, Partner
from affiliates.models.commissions import RULE_FIELDS
from affiliates.services import audit
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.viewer import Viewer


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def terms_of(rule: CommissionRule) -> dict[str, Any]:
    """The rule's terms as plain JSON (what a version records)."""
    return {name: _jsonable(getattr(rule, name)) for name in (*RULE_FIELDS, "active")}


def _check_refs(session: Session, values: Mapping[str, Any]) -> None:
    if values.get("offer_id") is not None and session.get(Offer, values["offer_id"]) is None:
        raise Invalid("offer_id", f"Offer {values['offer_id']} does not exist.")
    partner_id = values.get("partner_id")
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise Invalid("partner_id", f"Partner {partner_id} does not exist.")
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        raise Invalid("ends_at", "ends_at must be after starts_at.")
    if values.get("kind") == "percent" and values.get("value", 0) > 100:
        raise Invalid("value", "A percentage cannot exceed 100.")
    for tier in values.get("tiers") or []:
        if values.get("kind") == "percent" and Decimal(str(tier["value"])) > 100:
            raise Invalid("tiers", "A tier's percentage cannot exceed 100.")


def _record_version(session: Session, rule: CommissionRule, actor: str) -> None:
    # flush: the first version needs the rule's id
    session.flush()
    session.add(
        CommissionRuleVersion(
            rule_id=rule.id, version=rule.version, terms=terms_of(rule), actor=actor
        )
    )


def create(session: Session, values: Mapping[str, Any], actor: str) -> CommissionRule:
    """Publish a rule (version 1)."""
    _check_refs(session, values)
    rule = CommissionRule(version=1, active=True, **values)
    session.add(rule)
    _record_version(session, rule, actor)
    audit.record(session, "commission_rule", rule.id, "created", actor, None, terms_of(rule))
    session.commit()
    return rule


def get(session: Session, rule_id: int) -> CommissionRule:
    """One rule as it stands now."""
    rule = session.get(CommissionRule, rule_id)
    if rule is None:
        raise NotFound(f"Commission rule {rule_id} does not exist.")
    return rule


@dataclasses.dataclass(frozen=True)
class RuleFilters:
    """Which rules a list shows: those of one offer (with the program-wide ones), active or
    not."""

    offer_id: int | None = None
    active: bool | None = None


def list_rules(
    session: Session,
    filters: RuleFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[CommissionRule]:
    """Rules, newest first; staff's to read (a partner viewer's list is empty)."""
    stmt = viewer.scope(select(CommissionRule), None)
    if filters.offer_id is not None:
        stmt = stmt.where(
            (CommissionRule.offer_id == filters.offer_id) | CommissionRule.offer_id.is_(None)
        )
    if filters.active is not None:
        stmt = stmt.where(CommissionRule.active.is_(filters.active))
    return paginate(session, stmt, CommissionRule.id, limit, cursor)


def update(
    session: Session, rule_id: int, changes: Mapping[str, Any], actor: str
) -> CommissionRule:
    """Edit a rule: a new version with the same id; commissions already given keep theirs."""
    rule = get(session, rule_id)
    if not changes:
        return rule  # nothing to publish: no new version
    for name in ("type", "kind", "value", "tiers", "new_customers_only", "priority"):
        if name in changes and changes[name] is None:
            raise Invalid(name, "This field cannot be null.")
    merged = {name: getattr(rule, name) for name in RULE_FIELDS} | dict(changes)
    _check_refs(session, merged)
    before = terms_of(rule)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.version += 1
    _record_version(session, rule, actor)
    audit.record(session, "commission_rule", rule.id, "edited", actor, before, terms_of(rule))
    session.commit()
    return rule


def deactivate(session: Session, rule_id: int, actor: str) -> CommissionRule:
    """Stop a rule from matching; its history stays."""
    rule = get(session, rule_id)
    if rule.active:
        before = terms_of(rule)
        rule.active = False
        rule.version += 1
        _record_version(session, rule, actor)
        audit.record(session, "commission_rule", rule.id, "deactivated", actor, before,
                     terms_of(rule))  # fmt: skip
        session.commit()
    return rule


def to_rule(rule: Any) -> commissions.Rule:
    """The pure engine's view of a rule (a model or a row of its table)."""
    return commissions.Rule(
        id=rule.id,
        version=rule.version,
        type=rule.type,
        kind=rule.kind,
        value=rule.value,
        offer_id=rule.offer_id,
        partner_id=rule.partner_id,
        tiers=tuple(
            commissions.Tier(int(t["min_conversions"]), Decimal(str(t["value"])))
            for t in rule.tiers or []
        ),
        category=rule.category,
        new_customers_only=rule.new_customers_only,
        min_order_amount=rule.min_order_amount,
        cap=rule.cap,
        priority=rule.priority,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        active=rule.active,
        created_at=rule.updated_at,
    )


_RULES_TABLE = cast(Table, CommissionRule.__table__)


def rules_for(
    session: Session | Connection, offer_id: int, stamp: tuple[Any, ...] | None = None
) -> list[commissions.Rule]:
    """Active rules that may apply to an offer: its own and the program-wide ones.

    Given the rules' `stamp` (a value that changes whenever any rule does, read with the
    intake's other facts: see IntakeStore.touches), a copy this process read under the same
    stamp serves instead of a query.
    """
    if stamp is not None:
        cached = _cache.get(offer_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    rules = _active_rules(session, offer_id)
    if stamp is not None:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[offer_id] = (stamp, rules)
    return rules


def _active_rules(session: Session | Connection, offer_id: int) -> list[commissions.Rule]:
    rows = session.execute(
        select(_RULES_TABLE).where(
            _RULES_TABLE.c.active.is_(True),
            or_(_RULES_TABLE.c.offer_id == offer_id, _RULES_TABLE.c.offer_id.is_(None)),
        )
    )
    return [to_rule(row) for row in rows]


_cache: dict[int, tuple[tuple[Any, ...], list[commissions.Rule]]] = {}
_CACHE_SIZE = 1000


def forget_cached() -> None:
    """Drop this process's copies of the rules."""
    _cache.clear()


def month_conversions(
    session: Session | Connection,
    offer_id: int,
    partner_id: int | None,
    kind: str,
    at: dt.datetime,
    exclude_id: int | None = None,
) -> int:
    """The partner's non-rejected conversions of this offer and type earlier this month."""
    if partner_id is None:
        return 0
    month_start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    stmt = (
        select(func.count())
        .select_from(Conversion)
        .where(
            Conversion.offer_id == offer_id,
            Conversion.partner_id == partner_id,
            Conversion.type == kind,
            Conversion.status != "rejected",
            Conversion.occurred_at >= month_start,
            Conversion.occurred_at < at,
        )
    )
    if exclude_id is not None:
        stmt = stmt.where(Conversion.id != exclude_id)
    return int(session.scalar(stmt) or 0)


def order_for(
    session: Session,
    offer: Any,
    partner_id: int | None,
    kind: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    items: Sequence[Mapping[str, Any]] | None,
    new_customer: bool | None,
    exclude_id: int | None = None,
) -> commissions.Order:
    """The facts the engine needs about one (real or hypothetical) order."""
    order = _bare_order(offer, partner_id, kind, amount, occurred_at, items, new_customer)
    count = month_conversions(session, offer.id, partner_id, kind, occurred_at, exclude_id)
    return dataclasses.replace(order, month_conversions=count)


def preview(
    session: Session, values: Mapping[str, Any], now: dt.datetime
) -> commissions.Commission:
    """What a hypothetical order would earn under the current rules."""
    offer = session.get(Offer, values["offer_id"])
    if offer is None:
        raise Invalid("offer_id", f"Offer {values['offer_id']} does not exist.")
    if session.get(Partner, values["partner_id"]) is None:
        raise Invalid("partner_id", f"Partner {values['partner_id']} does not exist.")
    order = order_for(
        session,
        offer,
        values["partner_id"],
        values.get("type") or "sale",
        values.get("amount") or Decimal("0.00"),
        values.get("occurred_at") or now,
        values.get("items"),
        values.get("new_customer"),
    )
    return commissions.commission(rules_for(session, offer.id), order)


def draft_rule(
    session: Session, values: Mapping[str, Any], draft_id: int, created_at: dt.datetime
) -> commissions.Rule:
    """An unpublished rule for a simulation: checked as a published one is, never stored."""
    _check_refs(session, values)
    return commissions.Rule(
        id=draft_id,
        version=1,
        type=values["type"],
        kind=values["kind"],
        value=values["value"],
        offer_id=values.get("offer_id"),
        partner_id=values.get("partner_id"),
        tiers=tuple(
            commissions.Tier(int(t["min_conversions"]), Decimal(str(t["value"])))
            for t in values.get("tiers") or []
        ),
        category=values.get("category"),
        new_customers_only=bool(values.get("new_customers_only")),
        min_order_amount=values.get("min_order_amount"),
        cap=values.get("cap"),
        priority=int(values.get("priority") or 0),
        starts_at=values.get("starts_at"),
        ends_at=values.get("ends_at"),
        created_at=created_at,
    )


def rule_from_terms(rule_id: int, version: int, terms: Mapping[str, Any]) -> commissions.Rule:
    """A rule as one of its recorded versions said it (terms as `terms_of` wrote them)."""

    def decoded(name: str, parse: Any) -> Any:
        value = terms.get(name)
        return None if value is None else parse(value)

    recorded = SimpleNamespace(
        id=rule_id,
        version=version,
        type=terms["type"],
        kind=terms["kind"],
        value=Decimal(str(terms["value"])),
        offer_id=terms.get("offer_id"),
        partner_id=terms.get("partner_id"),
        tiers=terms.get("tiers"),
        category=terms.get("category"),
        new_customers_only=bool(terms.get("new_customers_only")),
        min_order_amount=decoded("min_order_amount", lambda v: Decimal(str(v))),
        cap=decoded("cap", lambda v: Decimal(str(v))),
        priority=int(terms.get("priority") or 0),
        starts_at=decoded("starts_at", dt.datetime.fromisoformat),
        ends_at=decoded("ends_at", dt.datetime.fromisoformat),
        active=True,  # the version applied when it was given; it still does for this order
        updated_at=None,
    )
    return to_rule(recorded)


def for_new_conversion(
    session: Session | Connection,
    offer: Any,
    partner_id: int | None,
    kind: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    items: Sequence[Mapping[str, Any]] | None,
    new_customer: bool | None,
    stamp: tuple[Any, ...] | None = None,
) -> commissions.Commission:
    """The commission a conversion earns when it is recorded, under the rules of now
    (`stamp`: see rules_for)."""
    if partner_id is None:
        return commissions.commission([], _bare_order(offer, None, kind, amount, occurred_at))
    rules = rules_for(session, offer.id, stamp)
    order = _bare_order(offer, partner_id, kind, amount, occurred_at, items, new_customer)
    chosen = commissions.choose(rules, order)
    if chosen is not None and chosen.tiers:
        # the month's count is only worth a query when the paying rule has tiers
        count = month_conversions(session, offer.id, partner_id, kind, occurred_at)
        order = dataclasses.replace(order, month_conversions=count)
    return commissions.commission(rules, order)


def for_remaining_amount(session: Session, conversion: Any, offer: Any) -> commissions.Commission:
    """After a partial refund: the same rule version, on what remains of the order."""
    remaining = conversion.amount - conversion.refunded_amount
    order = _bare_order(
        offer,
        conversion.partner_id,
        conversion.type,
        remaining,
        conversion.occurred_at,
        conversion.items,
        conversion.new_customer,
    )
    if conversion.rule_id is None or conversion.rule_version is None:
        return commissions.commission([], order)
    version = session.scalar(
        select(CommissionRuleVersion).where(
            CommissionRuleVersion.rule_id == conversion.rule_id,
            CommissionRuleVersion.version == conversion.rule_version,
        )
    )
    if version is None:
        return commissions.commission([], order)
    rule = rule_from_terms(conversion.rule_id, conversion.rule_version, version.terms)
    if rule.tiers:
        count = month_conversions(session, offer.id, conversion.partner_id, conversion.type,
                                  conversion.occurred_at, exclude_id=conversion.id)  # fmt: skip
        order = dataclasses.replace(order, month_conversions=count)
    # the rule paid this order once; only the amount it applies to has changed
    return commissions.commission([dataclasses.replace(rule, min_order_amount=None)], order)


def for_recorded_conversion(
    rules: Sequence[commissions.Rule], offer: Any, conversion: Any, month_conversions: int
) -> commissions.Commission:
    """What `rules` pay a recorded conversion, as intake and refunds would have paid it: the
    rule is chosen on the order as it came in, then applied to what remains after refunds."""
    order = _bare_order(
        offer,
        conversion.partner_id,
        conversion.type,
        conversion.amount,
        conversion.occurred_at,
        conversion.items,
        conversion.new_customer,
    )
    chosen = commissions.choose(rules, order) if conversion.partner_id is not None else None
    if chosen is not None and chosen.tiers:
        order = dataclasses.replace(order, month_conversions=month_conversions)
    if chosen is None:
        return commissions.commission([], order)
    remaining = conversion.amount - conversion.refunded_amount
    if remaining == conversion.amount:
        return commissions.commission([chosen], order)  # chosen already: no second search
    # the rule paid the order as it came in; only the amount it applies to has shrunk
    return commissions.commission(
        [dataclasses.replace(chosen, min_order_amount=None)],
        dataclasses.replace(order, amount=remaining),
    )


def _bare_order(
    offer: Any,
    partner_id: int | None,
    kind: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    items: Sequence[Mapping[str, Any]] | None = None,
    new_customer: bool | None = None,
) -> commissions.Order:
    return commissions.Order(
        offer_id=offer.id,
        partner_id=partner_id,
        type=kind,
        amount=amount,
        occurred_at=occurred_at,
        currency=offer.currency,
        items=tuple(
            commissions.Item(
                sku=str(item["sku"]),
                amount=Decimal(str(item["amount"])),
                quantity=int(item.get("quantity") or 1),
                category=item.get("category"),
            )
            for item in items or []
        ),
        new_customer=new_customer,
        target_cac=offer.target_cac,
        minor_units=min(get_currency_precision(offer.currency), 2),
    )
