"""Conversion intake and lifecycle: one order is one conversion, attributed exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates import attribution as engine
from affiliates.exceptions import Conflict, DomainError, Invalid, NotFound
from affiliates.models import Click, Conversion, CustomerBinding, Link, Offer, Partner, PromoCode
from affiliates.services import audit
from tracking.promo import check_code

ZERO = Decimal("0.00")
CLOSED = ("rejected", "reversed")


@dataclass(frozen=True)
class Intake:
    """The outcome of posting a conversion: the row, and whether this call created it."""

    conversion: Conversion
    created: bool


def customer_key(secret: str, customer_id: str | None, email: str | None) -> str | None:
    """A keyed hash of the customer's id (or, failing that, email): no PII is stored."""
    identity = (customer_id or "").strip() or (email or "").strip().casefold()
    if not identity:
        return None
    kind = "id" if (customer_id or "").strip() else "email"
    message = f"customer\n{kind}\n{identity}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def snapshot(conversion: Conversion) -> dict[str, Any]:
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


def _partner_facts(partner: Partner) -> engine.PartnerFacts:
    return engine.PartnerFacts(partner.id, partner.email, partner.status == "active")


def _terms(offer: Offer) -> engine.OfferTerms:
    return engine.OfferTerms(
        priority=tuple(offer.attribution_priority),
        window_days=offer.attribution_window_days,
        min_click_seconds=offer.min_click_to_conversion_seconds,
        require_click_for_code=offer.require_click_for_code,
    )


_CLICK = (
    select(
        Click.id, Click.created_at, Click.is_bot, Click.attributable, Link.archived_at,
        Partner.id, Partner.email, Partner.status,
    )
    .join(Link, Link.id == Click.link_id)
    .join(Partner, Partner.id == Click.partner_id)
    .where(Click.id == bindparam("click_id"), Click.offer_id == bindparam("offer_id"))
)  # fmt: skip
_REF = select(Partner.id, Partner.email, Partner.status, Partner.ref_code).where(
    Partner.ref_code == bindparam("ref_code")
)
_BINDING = (
    select(CustomerBinding.attributed_at, Partner.id, Partner.email, Partner.status)
    .join(Partner, Partner.id == CustomerBinding.partner_id)
    .where(
        CustomerBinding.offer_id == bindparam("offer_id"),
        CustomerBinding.customer_key == bindparam("customer_key"),
    )
)
_TABLE = cast(Table, Conversion.__table__)
_INSERT_COLUMNS = [column for column in _TABLE.columns if column.key not in ("id", "updated_at")]
_INSERT = _TABLE.insert().returning(_TABLE.c.id)
# A lead then a sale through one click is the normal funnel; two orders of one type are not.
_CLICK_USED = (
    select(Conversion.id)
    .where(Conversion.click_id == bindparam("click_id"), Conversion.type == bindparam("type"))
    .limit(1)
)
_EXISTING = select(Conversion).where(
    Conversion.offer_id == bindparam("offer_id"),
    Conversion.type == bindparam("type"),
    Conversion.order_id == bindparam("order_id"),
)


def _facts_of(partner_id: int, email: str, status: str) -> engine.PartnerFacts:
    return engine.PartnerFacts(partner_id, email, status == "active")


def _click_touch(session: Session, offer: Offer, click_id: str | None) -> engine.ClickTouch | None:
    if not click_id:
        return None
    row = (
        session.connection()
        .execute(_CLICK, {"click_id": click_id[:32], "offer_id": offer.id})
        .first()
    )
    if row is None:
        return None
    return engine.ClickTouch(
        id=row[0],
        partner=_facts_of(row[5], row[6], row[7]),
        created_at=row[1],
        is_bot=row[2],
        attributable=row[3],
        link_archived=row[4] is not None,
    )


def _code_touch(
    session: Session,
    offer: Offer,
    code: str | None,
    amount: Decimal,
    key: str | None,
    at: dt.datetime,
) -> tuple[engine.CodeTouch | None, PromoCode | None]:
    if not code:
        return None, None
    promo = session.scalar(select(PromoCode).where(PromoCode.code_key == PromoCode.key_for(code)))
    if promo is None:
        return None, None
    partner = session.get_one(Partner, promo.partner_id)
    check = check_code(code, promo, offer.max_discount_percent, offer.id, amount, at,
                       partner.status)  # fmt: skip
    valid, reason = check.valid, check.reason
    if valid and promo.max_uses_per_customer is not None and key is not None:
        used = session.scalar(
            select(func.count())
            .select_from(Conversion)
            .where(
                Conversion.promo_code_id == promo.id,
                Conversion.customer_key == key,
                Conversion.status.not_in(CLOSED),
            )
        )
        if (used or 0) >= promo.max_uses_per_customer:
            valid, reason = False, "exhausted for this customer"
    return engine.CodeTouch(promo.code, _partner_facts(partner), valid, reason), promo


def _ref_touch(session: Session, utm_source: str | None) -> engine.RefTouch | None:
    if not utm_source:
        return None
    row = session.connection().execute(_REF, {"ref_code": utm_source.strip()}).first()
    return None if row is None else engine.RefTouch(row[3], _facts_of(row[0], row[1], row[2]))


def _customer_touch(session: Session, offer: Offer, key: str | None) -> engine.CustomerTouch | None:
    if key is None:
        return None
    row = (
        session.connection().execute(_BINDING, {"offer_id": offer.id, "customer_key": key}).first()
    )
    if row is None:
        return None
    return engine.CustomerTouch(_facts_of(row[1], row[2], row[3]), row[0])


def _consume_code(session: Session, promo: PromoCode) -> bool:
    """Take one use of the code atomically; False when it is exhausted (never read-then-write)."""
    result = session.execute(
        update(PromoCode)
        .where(
            PromoCode.id == promo.id,
            (PromoCode.max_uses.is_(None)) | (PromoCode.uses < PromoCode.max_uses),
        )
        .values(uses=PromoCode.uses + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def commission_for(conversion: Conversion) -> tuple[Decimal, int | None, str]:
    """The commission a conversion earns on what remains after refunds.

    No commission rule is configured in this version, so every conversion earns 0.00 —
    the contract's answer when no rule matches.
    """
    return ZERO, None, "no commission rule matches: 0.00"


def _existing(session: Session, offer_id: int, kind: str, order_id: str) -> Conversion | None:
    return session.scalar(_EXISTING, {"offer_id": offer_id, "type": kind, "order_id": order_id})


def _same_or_conflict(found: Conversion, amount: Decimal) -> Intake:
    if found.amount != amount:
        raise Conflict(
            f"Order {found.order_id} was already recorded with amount {found.amount}.",
            [{"field": "amount", "message": "Differs from the order already recorded."}],
        )
    return Intake(found, created=False)


def record(
    session: Session,
    data: Mapping[str, Any],
    *,
    actor: str,
    secret: str,
    now: dt.datetime,
    source: str = "api",
) -> Intake:
    """Record a sale or lead once, attribute it, and hold it; a repeat returns the original."""
    offer = session.get(Offer, data["offer_id"])
    if offer is None:
        raise Invalid("offer_id", f"Offer {data['offer_id']} does not exist.")
    kind = data.get("type") or "sale"
    order_id = data["order_id"]
    amount = Decimal(data.get("amount") or ZERO).quantize(Decimal("0.01"))
    currency = (data.get("currency") or offer.currency).upper()
    if currency != offer.currency:
        raise Invalid("currency", f"The offer is in {offer.currency}.")
    found = _existing(session, offer.id, kind, order_id)
    if found is not None:
        return _same_or_conflict(found, amount)
    occurred_at = data.get("occurred_at") or now
    if occurred_at > now + dt.timedelta(minutes=5):
        raise Invalid("occurred_at", "The conversion cannot be in the future.")
    key = customer_key(secret, data.get("customer_id"), data.get("customer_email"))
    click_touch = _click_touch(session, offer, data.get("click_id"))
    code_touch, promo = _code_touch(session, offer, data.get("promo_code"), amount, key,
                                    occurred_at)  # fmt: skip
    click_reused = (
        click_touch is not None
        and session.connection().scalar(_CLICK_USED, {"click_id": click_touch.id, "type": kind})
        is not None
    )
    facts = engine.Facts(occurred_at, data.get("customer_email"), click_reused)
    touches = engine.Touches(
        click=click_touch,
        code=code_touch,
        ref=_ref_touch(session, data.get("utm_source")),
        customer=_customer_touch(session, offer, key),
    )
    terms = _terms(offer)
    verdict = engine.attribute(facts, touches, terms)
    if (
        verdict.method == "promo_code"
        and verdict.status == "pending"
        and promo is not None
        and not _consume_code(session, promo)
    ):
        # Another order took the last use first: fall through to the next method.
        exhausted = engine.CodeTouch(promo.code, touches.code.partner, False, "exhausted")  # type: ignore[union-attr]
        touches = engine.Touches(touches.click, exhausted, touches.ref, touches.customer)
        verdict = engine.attribute(facts, touches, terms)
    conversion = Conversion(
        offer_id=offer.id,
        type=kind,
        order_id=order_id,
        amount=amount,
        refunded_amount=ZERO,
        currency=currency,
        customer_key=key,
        click_id=click_touch.id if click_touch else (data.get("click_id") or None),
        promo_code_id=promo.id if promo is not None else None,
        utm_source=data.get("utm_source"),
        utm_campaign=data.get("utm_campaign"),
        partner_id=verdict.partner_id,
        attribution=verdict.method,
        status=verdict.status,
        reason=verdict.rejected,
        flags=list(verdict.flags),
        explanation=list(verdict.explanation),
        new_customer=data.get("new_customer"),
        items=_items(data.get("items")),
        source=source,
        occurred_at=occurred_at,
        hold_until=occurred_at + dt.timedelta(days=offer.hold_days),
        created_at=now,
    )
    conversion.commission, conversion.rule_id, why = commission_for(conversion)
    conversion.explanation = [*conversion.explanation, why]
    values = {column.key: getattr(conversion, column.key) for column in _INSERT_COLUMNS}
    try:
        # the unique key on (offer, type, order id) decides between racing copies
        conversion.id = session.connection().execute(_INSERT, values).scalar_one()
    except IntegrityError:
        session.rollback()
        found = _existing(session, offer.id, kind, order_id)
        if found is None:
            raise
        return _same_or_conflict(found, amount)
    conversion.updated_at = now
    if verdict.partner_id is not None and verdict.status == "pending" and key is not None:
        _bind_customer(session, offer.id, key, verdict.partner_id, conversion.id, occurred_at)
    audit.record(session, "conversion", conversion.id, "created", actor, None,
                 snapshot(conversion), "; ".join(verdict.explanation), at=now)  # fmt: skip
    session.commit()
    return Intake(conversion, created=True)


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
    "sqlite": sqlite_insert(CustomerBinding).on_conflict_do_nothing(),
    "postgresql": postgresql_insert(CustomerBinding).on_conflict_do_nothing(),
}
_REBIND = (
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


def _bind_customer(
    session: Session, offer_id: int, key: str, partner_id: int, conversion_id: int, at: dt.datetime
) -> None:
    """Bind the customer to the partner unless a live binding exists (first one wins)."""
    conn = session.connection()
    # a racing first order may bind the customer first: the unique key keeps that one
    result = conn.execute(
        _BIND[conn.dialect.name],
        {"offer_id": offer_id, "customer_key": key, "partner_id": partner_id,
         "conversion_id": conversion_id, "attributed_at": at},
    )  # fmt: skip
    if result.rowcount:
        return
    conn.execute(
        _REBIND,
        {"b_offer": offer_id, "b_key": key, "b_cutoff": at - engine.CUSTOMER_BINDING,
         "b_partner": partner_id, "b_conversion": conversion_id, "b_at": at},
    )  # fmt: skip


def get(session: Session, conversion_id: int, partner_id: int | None = None) -> Conversion:
    """A conversion; for a partner, only its own."""
    conversion = session.get(Conversion, conversion_id)
    if conversion is None or (partner_id is not None and conversion.partner_id != partner_id):
        raise NotFound(f"Conversion {conversion_id} does not exist.")
    return conversion


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
        conversion.commission, conversion.rule_id, _why = commission_for(conversion)
    audit.record(session, "conversion", conversion.id, "refunded", actor, before,
                 snapshot(conversion), f"refund of {refunded}")  # fmt: skip
    session.commit()
    return conversion


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
            approved += 1
        session.commit()
    return approved


def record_pixel(args: Mapping[str, str], click_id: str | None, app: Any) -> Intake | None:
    """A conversion reported by the pixel on the merchant's thank-you page.

    Bad or incomplete parameters record nothing (the pixel still answers its GIF).
    """
    from pydantic import ValidationError

    from affiliates.api.schemas import ConversionCreate
    from affiliates.extensions import db

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
