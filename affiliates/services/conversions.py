"""Conversion intake and lifecycle: one order is one conversion, attributed exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
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


def _click_touch(session: Session, offer: Offer, click_id: str | None) -> engine.ClickTouch | None:
    if not click_id:
        return None
    click = session.get(Click, click_id[:32])
    if click is None or click.offer_id != offer.id:
        return None
    link = session.get_one(Link, click.link_id)
    partner = session.get_one(Partner, click.partner_id)
    return engine.ClickTouch(
        id=click.id,
        partner=_partner_facts(partner),
        created_at=click.created_at,
        is_bot=click.is_bot,
        attributable=click.attributable,
        link_archived=link.archived_at is not None,
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
    partner = session.scalar(select(Partner).where(Partner.ref_code == utm_source.strip()))
    return None if partner is None else engine.RefTouch(partner.ref_code, _partner_facts(partner))


def _customer_touch(session: Session, offer: Offer, key: str | None) -> engine.CustomerTouch | None:
    if key is None:
        return None
    binding = session.scalar(
        select(CustomerBinding).where(
            CustomerBinding.offer_id == offer.id, CustomerBinding.customer_key == key
        )
    )
    if binding is None:
        return None
    partner = session.get_one(Partner, binding.partner_id)
    return engine.CustomerTouch(_partner_facts(partner), binding.attributed_at)


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
    return session.scalar(
        select(Conversion).where(
            Conversion.offer_id == offer_id,
            Conversion.type == kind,
            Conversion.order_id == order_id,
        )
    )


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
        and session.scalar(
            select(Conversion.id).where(Conversion.click_id == click_touch.id).limit(1)
        )
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
    session.add(conversion)
    try:
        # flush now: the unique key on (offer, type, order id) decides between racing copies
        session.flush()
    except IntegrityError:
        session.rollback()
        found = _existing(session, offer.id, kind, order_id)
        if found is None:
            raise
        return _same_or_conflict(found, amount)
    if verdict.partner_id is not None and verdict.status == "pending" and key is not None:
        _bind_customer(session, offer.id, key, verdict.partner_id, conversion, occurred_at)
    audit.record(session, "conversion", conversion.id, "created", actor, None,
                 snapshot(conversion), "; ".join(verdict.explanation))  # fmt: skip
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


def _bind_customer(
    session: Session,
    offer_id: int,
    key: str,
    partner_id: int,
    conversion: Conversion,
    at: dt.datetime,
) -> None:
    """Bind the customer to the partner unless a live binding exists (first one wins)."""
    binding = session.scalar(
        select(CustomerBinding).where(
            CustomerBinding.offer_id == offer_id, CustomerBinding.customer_key == key
        )
    )
    if binding is None:
        try:
            with session.begin_nested():  # a racing first order may bind the customer first
                session.add(CustomerBinding(offer_id=offer_id, customer_key=key,
                                            partner_id=partner_id, conversion_id=conversion.id,
                                            attributed_at=at))  # fmt: skip
        except IntegrityError:
            pass
    elif at - binding.attributed_at > engine.CUSTOMER_BINDING:
        binding.partner_id, binding.conversion_id, binding.attributed_at = (
            partner_id,
            conversion.id,
            at,
        )


def get(session: Session, conversion_id: int, partner_id: int | None = None) -> Conversion:
    """A conversion; for a partner, only its own."""
    conversion = session.get(Conversion, conversion_id)
    if conversion is None or (partner_id is not None and conversion.partner_id != partner_id):
        raise NotFound(f"Conversion {conversion_id} does not exist.")
    return conversion


def refund(session: Session, conversion_id: int, amount: Decimal | None, actor: str) -> Conversion:
    """Refund all (reversed, commission 0.00) or part (commission on what remains)."""
    conversion = get(session, conversion_id)
    if conversion.status == "rejected":
        raise Conflict("A rejected conversion cannot be refunded.")
    remaining = conversion.amount - conversion.refunded_amount
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise Invalid("amount", f"Only {remaining} remains to refund.")
    if amount == ZERO and conversion.status == "reversed":
        return conversion  # a repeated full refund changes nothing
    before = snapshot(conversion)
    conversion.refunded_amount = conversion.refunded_amount + amount
    if conversion.refunded_amount >= conversion.amount:
        conversion.status = "reversed"
        conversion.commission = ZERO
    else:
        conversion.commission, conversion.rule_id, _why = commission_for(conversion)
    audit.record(session, "conversion", conversion.id, "refunded", actor, before,
                 snapshot(conversion), f"refund of {amount}")  # fmt: skip
    session.commit()
    return conversion


def approve(
    session: Session, conversion_id: int, actor: str, reason: str | None = None
) -> Conversion:
    """Staff approval: pending (flagged or not) becomes approved."""
    conversion = get(session, conversion_id)
    if conversion.status == "approved":
        return conversion
    if conversion.status != "pending":
        raise Conflict(f"A {conversion.status} conversion cannot be approved.")
    before = snapshot(conversion)
    conversion.status = "approved"
    audit.record(session, "conversion", conversion.id, "approved", actor, before,
                 snapshot(conversion), reason or "approved by staff")  # fmt: skip
    session.commit()
    return conversion


def reject(session: Session, conversion_id: int, actor: str, reason: str) -> Conversion:
    """Staff rejection of a pending or approved conversion; commission drops to 0.00."""
    conversion = get(session, conversion_id)
    if conversion.status == "rejected":
        return conversion
    if conversion.status == "reversed":
        raise Conflict("A reversed conversion cannot be rejected.")
    before = snapshot(conversion)
    conversion.status = "rejected"
    conversion.reason = reason
    conversion.commission = ZERO
    audit.record(session, "conversion", conversion.id, "rejected", actor, before,
                 snapshot(conversion), reason)  # fmt: skip
    session.commit()
    return conversion


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
    data: dict[str, Any] = {name: args[name][:200] for name in fields if args.get(name)}
    if click_id:
        data["click_id"] = click_id[:64]
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
