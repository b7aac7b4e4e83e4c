"""Conversion intake and lifecycle: one order is one conversion, attributed exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from affiliates import attribution as engine
from affiliates import commissions
from affiliates.database import Bound, HeldConnections, Prepared, WriterQueue
from affiliates.exceptions import Conflict, DomainError, Invalid, NotFound
from affiliates.models import Click, Conversion, CustomerBinding, Link, Offer, Partner, PromoCode
from affiliates.money import CENT, ZERO
from affiliates.services import audit, commission_rules, ledger
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.stats import period
from affiliates.services.viewer import Viewer, visible
from tracking.promo import check_code

CLOSED = ("rejected", "reversed")


@dataclass(frozen=True)
class Intake:
    """The outcome of posting a conversion: the row (as loaded, or as just inserted), and
    whether this call created it."""

    conversion: Any
    created: bool


def customer_key(secret: str, customer_id: str | None, email: str | None) -> str | None:
    """A keyed hash of the customer's id (or, failing that, email): no PII is stored."""
    identity = (customer_id or "").strip() or (email or "").strip().casefold()
    if not identity:
        return None
    kind = "id" if (customer_id or "").strip() else "email"
    message = f"customer\n{kind}\n{identity}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def snapshot(conversion: Any) -> dict[str, Any]:
    """The fields an audit entry records before and after a change."""
    return {
        "status": conversion.status,
        "partner_id": conversion.partner_id,
        "attribution": conversion.attribution,
        "amount": str(conversion.amount),
        "refunded_amount": str(conversion.refunded_amount),
        "commission": str(conversion.commission),
        "flags": list(conversion.flags or []),
        "reason": conversion.reason,
    }


def _terms(offer: Any) -> engine.OfferTerms:
    return engine.OfferTerms(
        priority=tuple(offer.attribution_priority),
        window_days=offer.attribution_window_days,
        min_click_seconds=offer.min_click_to_conversion_seconds,
        require_click_for_code=offer.require_click_for_code,
    )


_CLICKER, _REFERRER, _BOUND = (
    aliased(Partner, name=name) for name in ("clicker", "referrer", "bound")
)


def _touches_statement(with_click: bool) -> Prepared:
    """Everything the engine needs but a promo code, in one statement: the offer's terms, the
    click (with its link and partner) and whether an order of this type already claimed it,
    the partner whose ref code is the utm_source, and the customer's live binding.

    Without a click id the click's columns are NULLs and its tables are not joined at all,
    so the statement reads none of their pages.
    """
    if with_click:
        click_columns: list[Any] = [
            Click.id, Click.created_at, Click.is_bot, Click.attributable, Link.id,
            Link.archived_at, _CLICKER.id, _CLICKER.email, _CLICKER.status,
        ]  # fmt: skip
        # a lead then a sale through one click is the normal funnel; two orders of one type
        # are not
        claimed: Any = (
            select(Conversion.id)
            .where(Conversion.click_id == Click.id, Conversion.type == bindparam("type"))
            .exists()
        )
    else:
        click_columns = [null()] * 9
        claimed = null()
    statement = select(
        Offer.id, Offer.currency, Offer.hold_days, Offer.attribution_window_days,
        Offer.attribution_priority, Offer.min_click_to_conversion_seconds,
        Offer.require_click_for_code, Offer.max_discount_percent,
        *click_columns,
        _REFERRER.id, _REFERRER.email, _REFERRER.status, _REFERRER.ref_code,
        CustomerBinding.attributed_at, _BOUND.id, _BOUND.email, _BOUND.status,
        claimed,
        Offer.target_cac,
        *commission_rules.STAMP,
    ).select_from(Offer)  # fmt: skip
    if with_click:
        statement = (
            statement.outerjoin(
                Click, (Click.id == bindparam("click_id")) & (Click.offer_id == Offer.id)
            )
            .outerjoin(Link, Link.id == Click.link_id)
            .outerjoin(_CLICKER, _CLICKER.id == Click.partner_id)
        )
    statement = (
        statement.outerjoin(_REFERRER, _REFERRER.ref_code == bindparam("ref_code"))
        .outerjoin(CustomerBinding, (CustomerBinding.offer_id == Offer.id)
                   & (CustomerBinding.customer_key == bindparam("customer_key")))
        .outerjoin(_BOUND, _BOUND.id == CustomerBinding.partner_id)
        .where(Offer.id == bindparam("offer_id"))
    )  # fmt: skip
    return Prepared(statement)


_TOUCHES = {True: _touches_statement(True), False: _touches_statement(False)}
_TABLE = cast(Table, Conversion.__table__)
_INSERT = Prepared(_TABLE.insert().returning(_TABLE.c.id))
_EXISTING = select(_TABLE).where(
    Conversion.offer_id == bindparam("offer_id"),
    Conversion.type == bindparam("type"),
    Conversion.order_id == bindparam("order_id"),
)
# Writers of conversions queue for SQLite's single write lock instead of polling for it.
_WRITERS = WriterQueue("-intakelock")
_CONNECTIONS = HeldConnections()


class _Offer(NamedTuple):
    id: int
    currency: str
    hold_days: int
    attribution_window_days: int
    attribution_priority: list[str]
    min_click_to_conversion_seconds: int
    require_click_for_code: bool
    max_discount_percent: Decimal | None
    target_cac: Decimal | None


@dataclass(frozen=True)
class _Found:
    offer: _Offer
    click: engine.ClickTouch | None
    click_reused: bool
    ref: engine.RefTouch | None
    customer: engine.CustomerTouch | None
    rules_stamp: tuple[Any, ...]


def _facts_of(partner_id: int, email: str, status: str) -> engine.PartnerFacts:
    return engine.PartnerFacts(partner_id, email, status == "active")


def _touches(
    conn: Connection,
    offer_id: int,
    kind: str,
    click_id: str | None,
    utm_source: str | None,
    key: str | None,
) -> _Found | None:
    """The offer and every touch but a promo code, or None for an unknown offer."""
    params = {
        "offer_id": offer_id, "ref_code": utm_source.strip() if utm_source else None,
        "customer_key": key,
    }  # fmt: skip
    if click_id:
        params.update(type=kind, click_id=click_id[:32])
    rows = _TOUCHES[bool(click_id)].execute(conn, params)
    if not rows:
        return None
    row = rows[0]
    click = None
    if row[8] is not None and row[12] is not None and row[14] is not None:
        click = engine.ClickTouch(
            id=row[8],
            partner=_facts_of(row[14], row[15], row[16]),
            created_at=row[9],
            is_bot=row[10],
            attributable=row[11],
            link_archived=row[13] is not None,
        )
    ref = (
        None if row[17] is None else engine.RefTouch(row[20], _facts_of(row[17], row[18], row[19]))
    )
    customer = None
    if row[22] is not None:
        customer = engine.CustomerTouch(_facts_of(row[22], row[23], row[24]), row[21])
    return _Found(
        _Offer._make([*row[:8], row[26]]), click, click is not None and bool(row[25]), ref,
        customer, tuple(row[27:31]),
    )  # fmt: skip


_PROMO_TABLE = cast(Table, PromoCode.__table__)
# the code with its partner's facts, in one statement
_PROMO = select(_PROMO_TABLE, Partner.email.label("partner_email"),
                Partner.status.label("partner_status")).join(
    Partner, Partner.id == _PROMO_TABLE.c.partner_id
).where(_PROMO_TABLE.c.code_key == bindparam("code_key"))  # fmt: skip
_CUSTOMER_USES = (
    select(func.count())
    .select_from(Conversion)
    .where(
        Conversion.promo_code_id == bindparam("promo_id"),
        Conversion.customer_key == bindparam("customer_key"),
        Conversion.status.not_in(CLOSED),
    )
)


def _code_touch(
    conn: Connection,
    offer: Any,
    code: str | None,
    amount: Decimal,
    key: str | None,
    at: dt.datetime,
) -> tuple[engine.CodeTouch | None, Any]:
    if not code:
        return None, None
    promo = conn.execute(_PROMO, {"code_key": PromoCode.key_for(code)}).first()
    if promo is None:
        return None, None
    check = check_code(code, promo, offer.max_discount_percent, offer.id, amount, at,
                       promo.partner_status)  # fmt: skip
    valid, reason = check.valid, check.reason
    if valid and promo.max_uses_per_customer is not None and key is not None:
        used = conn.scalar(_CUSTOMER_USES, {"promo_id": promo.id, "customer_key": key})
        if (used or 0) >= promo.max_uses_per_customer:
            valid, reason = False, "exhausted for this customer"
    partner = _facts_of(promo.partner_id, promo.partner_email, promo.partner_status)
    return engine.CodeTouch(promo.code, partner, valid, reason), promo


# Take one use of the code atomically (never read-then-write); no row back when exhausted.
_CONSUME = Prepared(
    update(PromoCode)
    .where(
        PromoCode.id == bindparam("promo_id"),
        (PromoCode.max_uses.is_(None)) | (PromoCode.uses < PromoCode.max_uses),
    )
    .values(uses=PromoCode.uses + 1)
    .returning(PromoCode.id)
)


def _earned(
    conn: Connection,
    offer: Any,
    verdict: engine.Verdict,
    kind: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    data: Mapping[str, Any],
    stamp: tuple[Any, ...],
) -> commissions.Commission:
    """The commission the rules of now give this conversion (0.00 when rejected)."""
    if verdict.status == "rejected":
        return commissions.Commission(ZERO, None, None, "rejected: no commission")
    return commission_rules.for_new_conversion(
        conn, offer, verdict.partner_id, kind, amount, occurred_at, data.get("items"),
        data.get("new_customer"), stamp,
    )  # fmt: skip


def _existing(conn: Connection, offer_id: int, kind: str, order_id: str) -> Any:
    return conn.execute(
        _EXISTING, {"offer_id": offer_id, "type": kind, "order_id": order_id}
    ).first()


def _same_or_conflict(found: Any, amount: Decimal) -> Intake:
    if found.amount != amount:
        raise Conflict(
            f"Order {found.order_id} was already recorded with amount {found.amount}.",
            [{"field": "amount", "message": "Differs from the order already recorded."}],
        )
    return Intake(found, created=False)


def record(
    session: Session | Engine,
    data: Mapping[str, Any],
    *,
    actor: str,
    secret: str,
    now: dt.datetime,
    source: str = "api",
) -> Intake:
    """Record a sale or lead once, attribute it, and hold it; a repeat returns the original.

    The intake is optimistic: a new order costs no look-up of itself; a repeat fails on the
    unique key of (offer, type, order id), rolls back everything it did, and answers with
    the original. Every read comes before the first write, so the write transaction (and,
    on SQLite, the database's single write lock) is held only for the writes.

    It runs on a connection of its own rather than in a session (whose unit of work costs
    more than the rest of a conversion's Python): given a session, the work pending in it
    is committed first, as the intake always committed it.
    """
    if isinstance(session, Engine):
        engine = session
    else:
        if session.in_transaction():
            session.commit()
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
    with _CONNECTIONS.connect(engine) as conn:
        return _record(conn, data, actor=actor, secret=secret, now=now, source=source)


def _record(
    conn: Connection,
    data: Mapping[str, Any],
    *,
    actor: str,
    secret: str,
    now: dt.datetime,
    source: str,
) -> Intake:
    kind = data.get("type") or "sale"
    order_id = data["order_id"]
    key = customer_key(secret, data.get("customer_id"), data.get("customer_email"))
    found = _touches(conn, data["offer_id"], kind, data.get("click_id"), data.get("utm_source"),
                     key)  # fmt: skip
    if found is None:
        raise Invalid("offer_id", f"Offer {data['offer_id']} does not exist.")
    offer = found.offer
    amount = Decimal(data.get("amount") or ZERO).quantize(CENT)
    currency = (data.get("currency") or offer.currency).upper()
    if currency != offer.currency:
        raise Invalid("currency", f"The offer is in {offer.currency}.")
    occurred_at = data.get("occurred_at") or now
    if occurred_at > now + dt.timedelta(minutes=5):
        raise Invalid("occurred_at", "The conversion cannot be in the future.")
    click_touch = found.click
    code_touch, promo = _code_touch(conn, offer, data.get("promo_code"), amount, key,
                                    occurred_at)  # fmt: skip
    facts = engine.Facts(occurred_at, data.get("customer_email"), found.click_reused)
    touches = engine.Touches(click=click_touch, code=code_touch, ref=found.ref,
                             customer=found.customer)  # fmt: skip
    terms = _terms(offer)
    stamp = found.rules_stamp
    verdict = engine.attribute(facts, touches, terms)
    earned = _earned(conn, offer, verdict, kind, amount, occurred_at, data, stamp)
    fixed: dict[str, Any] = {
        "offer_id": offer.id,
        "type": kind,
        "order_id": order_id,
        "amount": amount,
        "refunded_amount": ZERO,
        "currency": currency,
        "customer_key": key,
        "click_id": click_touch.id if click_touch else (data.get("click_id") or None),
        "promo_code_id": promo.id if promo is not None else None,
        "utm_source": data.get("utm_source"),
        "utm_campaign": data.get("utm_campaign"),
        "new_customer": data.get("new_customer"),
        "items": _items(data.get("items")),
        "source": source,
        "occurred_at": occurred_at,
        "hold_until": occurred_at + dt.timedelta(days=offer.hold_days),
        "created_at": now,
        "updated_at": now,
    }
    # Every value is processed before the writer's turn: the turn holds SQLite's one write
    # lock, and a writer preempted while holding it stalls every other.
    writes = _Writes.of(conn, fixed, verdict, earned, touches.customer, actor, now)
    dbapi_connection: Any = conn.connection.dbapi_connection
    # the reads above may have begun a transaction (PostgreSQL): the writes join it
    with _WRITERS.turn(conn):
        try:
            if (
                verdict.method == "promo_code"
                and verdict.status == "pending"
                and promo is not None
                and not _CONSUME.execute(conn, {"promo_id": promo.id})
            ):
                # Another order took the last use first: fall through to the next method.
                exhausted = engine.CodeTouch(promo.code, touches.code.partner, False, "exhausted")  # type: ignore[union-attr]
                touches = engine.Touches(touches.click, exhausted, touches.ref, touches.customer)
                verdict = engine.attribute(facts, touches, terms)
                earned = _earned(conn, offer, verdict, kind, amount, occurred_at, data, stamp)
                writes = _Writes.of(conn, fixed, verdict, earned, touches.customer, actor, now)
            try:
                # the unique key on (offer, type, order id) decides between racing copies
                new_id = writes.conversion.run(conn)[0][0]
            except IntegrityError as exc:
                dbapi_connection.rollback()
                repeat: IntegrityError | None = exc
            else:
                repeat = None
                for bound, name in writes.then:
                    bound.set(name, new_id)
                    bound.run(conn)
                # committed in the turn, so the next writer finds SQLite's lock free
                dbapi_connection.commit()
        except BaseException:
            # end the write transaction before leaving the queue, so the next writer is not
            # made to poll for SQLite's lock
            dbapi_connection.rollback()
            raise
    if repeat is None:
        return Intake(SimpleNamespace(id=new_id, **writes.values), created=True)
    original = _existing(conn, offer.id, kind, order_id)
    if original is None:
        raise repeat
    return _same_or_conflict(original, amount)


@dataclass(frozen=True)
class _Writes:
    """A new conversion's statements, values processed: its INSERT, then the statements
    that need its id (the customer's binding, the audit entry), with that parameter's name."""

    values: dict[str, Any]
    conversion: Bound
    then: list[tuple[Bound, str]]

    @classmethod
    def of(
        cls,
        conn: Connection,
        fixed: dict[str, Any],
        verdict: engine.Verdict,
        earned: commissions.Commission,
        earlier: engine.CustomerTouch | None,
        actor: str,
        now: dt.datetime,
    ) -> _Writes:
        values = {
            **fixed,
            "partner_id": verdict.partner_id,
            "attribution": verdict.method,
            "status": verdict.status,
            "reason": verdict.rejected,
            "flags": list(verdict.flags),
            "commission": earned.amount,
            "rule_id": earned.rule_id,
            "rule_version": earned.rule_version,
            "explanation": [*verdict.explanation, earned.explanation],
        }
        dialect = conn.dialect
        then = []
        key = values["customer_key"]
        if verdict.partner_id is not None and verdict.status == "pending" and key is not None:
            binding = _binding(dialect, values["offer_id"], key, verdict.partner_id,
                               values["occurred_at"], earlier)  # fmt: skip
            if binding is not None:
                then.append(binding)
        entry = audit.prepared(dialect, "conversion", 0, "created", actor, None,
                               snapshot(SimpleNamespace(**values)),
                               "; ".join(verdict.explanation), at=now)  # fmt: skip
        then.append((entry, "entity_id"))
        return cls(values, _INSERT.bind(dialect, values), then)


def _items(items: Any) -> list[dict[str, Any]] | None:
    if not items:
        return None
    return [
        {
            "sku": item["sku"],
            "category": item.get("category"),
            "quantity": item["quantity"],
            "amount": str(item["amount"]),
        }
        for item in items
    ]


_BIND = {
    "sqlite": Prepared(sqlite_insert(CustomerBinding).on_conflict_do_nothing()),
    "postgresql": Prepared(postgresql_insert(CustomerBinding).on_conflict_do_nothing()),
}
_REBIND = Prepared(
    update(CustomerBinding)
    .where(
        CustomerBinding.offer_id == bindparam("b_offer"),
        CustomerBinding.customer_key == bindparam("b_key"),
        CustomerBinding.attributed_at < bindparam("b_cutoff"),
    )
    .values(
        partner_id=bindparam("b_partner"),
        conversion_id=bindparam("b_conversion"),
        attributed_at=bindparam("b_at"),
    )
)


def _binding(
    dialect: Dialect,
    offer_id: int,
    key: str,
    partner_id: int,
    at: dt.datetime,
    earlier: engine.CustomerTouch | None,
) -> tuple[Bound, str] | None:
    """The statement binding the customer to the partner, unless a live binding exists
    (first one wins), with the name of its conversion id parameter."""
    if earlier is None:
        # a racing first order may bind the customer first: the unique key keeps that one
        bound = _BIND[dialect.name].bind(
            dialect,
            {"offer_id": offer_id, "customer_key": key, "partner_id": partner_id,
             "conversion_id": 0, "attributed_at": at},
        )  # fmt: skip
        return bound, "conversion_id"
    if at - earlier.attributed_at > engine.CUSTOMER_BINDING:
        bound = _REBIND.bind(
            dialect,
            {"b_offer": offer_id, "b_key": key, "b_cutoff": at - engine.CUSTOMER_BINDING,
             "b_partner": partner_id, "b_conversion": 0, "b_at": at},
        )  # fmt: skip
        return bound, "b_conversion"
    return None


def get(session: Session, conversion_id: int, viewer: Viewer | None = None) -> Conversion:
    """A conversion; for a partner viewer, only its own (others are 'not found')."""
    conversion = session.get(Conversion, conversion_id)
    if conversion is None or not visible(viewer, conversion.partner_id):
        raise NotFound(f"Conversion {conversion_id} does not exist.")
    return conversion


@dataclass(frozen=True)
class ConversionFilters:
    """Which conversions a list shows: by partner, offer, status and when they occurred
    (`start` to `end`, end excluded; a date `end` includes that whole day)."""

    partner_id: int | None = None
    offer_id: int | None = None
    status: str | None = None
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None


def list_conversions(
    session: Session,
    filters: ConversionFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Conversion]:
    """Conversions, newest first; a partner viewer sees its own only."""
    stmt = viewer.scope(select(Conversion), Conversion.partner_id, filters.partner_id)
    if filters.offer_id is not None:
        stmt = stmt.where(Conversion.offer_id == filters.offer_id)
    if filters.status is not None:
        stmt = stmt.where(Conversion.status == filters.status)
    start, end = period(filters.start, filters.end)
    if start is not None:
        stmt = stmt.where(Conversion.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(Conversion.occurred_at < end)
    return paginate(session, stmt, Conversion.id, limit, cursor)


def refund(session: Session, conversion_id: int, amount: Decimal | None, actor: str) -> Conversion:
    """Refund all (reversed, commission 0.00) or part (commission on what remains)."""
    conversion = get(session, conversion_id)
    while True:
        if conversion.status == "rejected":
            raise Conflict("A rejected conversion cannot be refunded.")
        remaining = conversion.amount - conversion.refunded_amount
        refunded = remaining if amount is None else amount
        if refunded > remaining:
            raise Invalid("amount", f"Only {remaining} remains to refund.")
        if refunded == ZERO and conversion.status == "reversed":
            return conversion  # a repeated full refund changes nothing
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
        session.rollback()
        session.refresh(conversion)
    before = snapshot(conversion)
    conversion.refunded_amount = conversion.refunded_amount + refunded
    if conversion.refunded_amount >= conversion.amount:
        conversion.status = "reversed"
        conversion.commission = ZERO
    else:
        offer = session.get_one(Offer, conversion.offer_id)
        # the rule version the conversion got, on what remains of the order
        conversion.commission = commission_rules.for_remaining_amount(
            session, conversion, offer
        ).amount
    audit.record(session, "conversion", conversion.id, "refunded", actor, before,
                 snapshot(conversion), f"refund of {refunded}")  # fmt: skip
    _follow(session, conversion, actor)
    session.commit()
    return conversion


def _follow(session: Session, conversion: Conversion, actor: str) -> None:
    """The ledger entry, if any, that the conversion's new state calls for."""
    ledger.follow_conversion(session, conversion_id=conversion.id,
                             partner_id=conversion.partner_id, currency=conversion.currency,
                             status=conversion.status, commission=conversion.commission,
                             actor=actor)  # fmt: skip


def _review(
    session: Session,
    conversion_id: int,
    target: str,
    allowed_from: tuple[str, ...],
    actor: str,
    reason: str,
) -> Conversion:
    """Move a conversion to `target` by a guarded UPDATE: of two racing reviews, one wins
    and the other sees the new status (never two audit entries from the same 'before')."""
    conversion = get(session, conversion_id)
    while conversion.status != target:
        if conversion.status not in allowed_from:
            raise Conflict(f"A {conversion.status} conversion cannot become {target}.")
        values: dict[str, Any] = {"status": target}
        if target == "rejected":
            values.update(reason=reason, commission=ZERO)
        result = session.execute(
            update(Conversion)
            .where(Conversion.id == conversion.id, Conversion.status == conversion.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            session.rollback()
            session.refresh(conversion)
            continue
        before = snapshot(conversion)
        for key, value in values.items():
            setattr(conversion, key, value)
        audit.record(session, "conversion", conversion.id, target, actor, before,
                     snapshot(conversion), reason)  # fmt: skip
        _follow(session, conversion, actor)
        session.commit()
    return conversion


def approve(
    session: Session, conversion_id: int, actor: str, reason: str | None = None
) -> Conversion:
    """Staff approval: pending (flagged or not) becomes approved."""
    return _review(session, conversion_id, "approved", ("pending",), actor,
                   reason or "approved by staff")  # fmt: skip


def reject(session: Session, conversion_id: int, actor: str, reason: str) -> Conversion:
    """Staff rejection of a pending or approved conversion; commission drops to 0.00."""
    return _review(session, conversion_id, "rejected", ("pending", "approved"), actor, reason)


def approve_due(session: Session, now: dt.datetime, actor: str = "approve-due") -> int:
    """Approve unflagged pending conversions whose hold has passed; returns how many."""
    due = list(
        session.scalars(
            select(Conversion.id)
            .where(Conversion.status == "pending", Conversion.hold_until <= now)
            .order_by(Conversion.id)
        )
    )
    approved = 0
    for conversion_id in due:
        conversion = session.get(Conversion, conversion_id)
        if conversion is None or conversion.flags:
            continue  # flagged conversions wait for staff
        before = snapshot(conversion)
        # a guarded UPDATE: a concurrent rejection wins over this run
        result = session.execute(
            update(Conversion)
            .where(Conversion.id == conversion_id, Conversion.status == "pending")
            .values(status="approved", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            after = {**before, "status": "approved"}
            audit.record(session, "conversion", conversion_id, "approved", actor, before, after,
                         "hold period over")  # fmt: skip
            ledger.follow_conversion(session, conversion_id=conversion_id,
                                     partner_id=conversion.partner_id,
                                     currency=conversion.currency, status="approved",
                                     commission=conversion.commission, actor=actor)  # fmt: skip
            approved += 1
        session.commit()
    return approved


def record_pixel(args: Mapping[str, str], click_id: str | None, app: Any) -> Intake | None:
    """A conversion reported by the pixel on the merchant's thank-you page.

    Bad or incomplete parameters record nothing (the pixel still answers its GIF).
    """
    from pydantic import ValidationError

    from affiliates.extensions import db
    from affiliates.validation import ConversionCreate

    fields = ("offer_id", "order_id", "amount", "type", "currency", "promo_code")
    # bounded, yet long enough that an oversized value fails validation instead of being cut
    data: dict[str, Any] = {name: args[name][:1000] for name in fields if args.get(name)}
    if click_id:
        data["click_id"] = click_id[:64]
    if any("\x00" in value for value in data.values()):
        return None  # as the API refuses it: PostgreSQL text cannot hold NUL
    try:
        body = ConversionCreate.model_validate(data)
    except ValidationError:
        return None
    session = db.session
    try:
        return record(
            session,
            body.model_dump(exclude_none=True),
            actor="pixel",
            secret=app.config["IP_HASH_KEY"],
            now=app.extensions["clock"](),
            source="pixel",
        )
    except DomainError:
        session.rollback()
        return None
