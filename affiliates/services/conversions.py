"""Conversion intake and lifecycle: one order is one conversion, attributed exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from affiliates import attribution as engine
from affiliates import commissions
from affiliates.exceptions import Conflict, DomainError, Invalid, NotFound
from affiliates.models import Conversion, PromoCode
from affiliates.models.statuses import CLOSED, PIXEL_UNVERIFIED, ConversionStatus, PixelTrust
from affiliates.money import CENT, ZERO
from affiliates.services import audit, commission_rules, intake_store, ledger
from affiliates.services.intake_store import (
    IntakeOffer,
    IntakeStore,
    NewAuditEntry,
    NewBinding,
    NewConversion,
    PromoCodeExhausted,
    PromoRow,
    StoredConversion,
)
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.stats import period
from affiliates.services.viewer import Viewer, visible
from affiliates.validation.models import dropped
from tracking.promo import check_code


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


def record(
    bind: Engine,
    data: Mapping[str, Any],
    *,
    actor: str,
    secret: str,
    now: dt.datetime,
    source: str = "api",
) -> Intake:
    """Record a sale or lead once, attribute it, and hold it; a repeat returns the original.

    The intake is optimistic: a new order costs no look-up of itself; a repeat fails on the
    unique key of (offer, type, order id), writes nothing, and answers with the original.
    Every read comes before the write, so the write transaction (and, on SQLite, the
    database's single write lock) is held only for the writes.

    It works on a connection of its own (the intake store's), in a transaction of its own,
    and never touches a session: a caller's pending work stays the caller's to commit.
    """
    with intake_store.connect(bind) as store:
        return _record(store, data, actor=actor, secret=secret, now=now, source=source)


def _record(
    store: IntakeStore,
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
    utm_source = data.get("utm_source")
    found = store.touches(data["offer_id"], kind, data.get("click_id"),
                          utm_source.strip() if utm_source else None, key)  # fmt: skip
    if found is None:
        raise Invalid("offer_id", f"Offer {data['offer_id']} does not exist.")
    offer = found.offer
    amount = Decimal(data.get("amount") or ZERO).quantize(CENT)
    currency = (data.get("currency") or offer.currency).upper()
    if currency != offer.currency:
        raise Invalid("currency", f"The offer is in {offer.currency}.")
    if source == "pixel" and offer.pixel == PixelTrust.OFF:
        raise Invalid("offer_id", "The offer takes no pixel conversions.")
    warnings = list(data.get("warnings") or ())
    occurred_at = data.get("occurred_at") or now
    if occurred_at > now + dt.timedelta(minutes=5):
        # an optional field: the sale is recorded at the server's time
        warnings.append(dropped("occurred_at", "The conversion cannot be in the future"))
        occurred_at = now
    code_touch, promo = _code_touch(store, offer, data.get("promo_code"), amount, key,
                                    occurred_at)  # fmt: skip
    facts = engine.Facts(occurred_at, data.get("customer_email"), found.click_reused)
    touches = engine.Touches(click=found.click, code=code_touch, ref=found.ref,
                             customer=found.customer)  # fmt: skip
    terms = _terms(offer)
    fixed: dict[str, Any] = {
        "offer_id": offer.id,
        "type": kind,
        "order_id": order_id,
        "amount": amount,
        "refunded_amount": ZERO,
        "currency": currency,
        "customer_key": key,
        "click_id": found.click.id if found.click else (data.get("click_id") or None),
        "promo_code_id": promo.id if promo is not None else None,
        "utm_source": utm_source,
        "utm_campaign": data.get("utm_campaign"),
        "new_customer": data.get("new_customer"),
        "items": _items(data.get("items")),
        "warnings": warnings,
        # under `review` the pixel's word waits for staff or the server's postback
        "pixel_unverified": source == "pixel" and offer.pixel == PixelTrust.REVIEW,
        "source": source,
        "occurred_at": occurred_at,
        "hold_until": occurred_at + dt.timedelta(days=offer.hold_days),
        "created_at": now,
        "updated_at": now,
    }
    verdict = engine.attribute(facts, touches, terms)
    rows = _rows(store, offer, fixed, verdict, touches.customer, data, found.rules_stamp, actor,
                 now)  # fmt: skip
    code_used = verdict.method == "promo_code" and verdict.status == ConversionStatus.PENDING
    try:
        new_id = store.write(*rows, promo_use=promo.id if promo is not None and code_used else None)
    except PromoCodeExhausted:
        # Another order took the last use first: fall through to the next method.
        touches = _code_exhausted(touches)
        verdict = engine.attribute(facts, touches, terms)
        rows = _rows(store, offer, fixed, verdict, touches.customer, data, found.rules_stamp,
                     actor, now)  # fmt: skip
        new_id = store.write(*rows)
    if new_id is not None:
        return Intake(StoredConversion(id=new_id, **vars(rows[0])), created=True)
    original = store.existing(offer.id, kind, order_id)
    if original is None:  # refused as a copy of an order that is not there: cannot happen
        raise RuntimeError(f"Order {order_id} was refused as a repeat, yet is not recorded.")
    if source != "pixel" and _waits_for_postback(original):
        confirmed = _confirm_pixel(store, offer, original, data, amount, found.rules_stamp,
                                   actor, now)  # fmt: skip
        if confirmed is not None:
            return Intake(confirmed, created=False)
        # another postback (or staff) came first: answer as to any repeat
        original = store.existing(offer.id, kind, order_id) or original
    return _same_or_conflict(original, amount)


def _waits_for_postback(conversion: StoredConversion) -> bool:
    return conversion.pixel_unverified and conversion.status == ConversionStatus.PENDING


def _confirm_pixel(
    store: IntakeStore,
    offer: IntakeOffer,
    pixel: StoredConversion,
    data: Mapping[str, Any],
    amount: Decimal,
    stamp: tuple[Any, ...],
    actor: str,
    now: dt.datetime,
) -> StoredConversion | None:
    """The server's postback of an order the pixel reported: its amount wins (and the
    commission is recomputed on it, for the partner the pixel's click or code found), the
    flag clears, and an audit entry records before and after. None when another postback
    or staff came first."""
    items = _items(data.get("items")) or pixel.items
    new_customer = data.get("new_customer", pixel.new_customer)
    earned = commission_rules.for_new_conversion(
        store.connection, offer, pixel.partner_id, pixel.type, amount, pixel.occurred_at,
        items, new_customer, stamp,
    )  # fmt: skip
    note = f"confirmed by the server's postback: amount {amount} (the pixel said {pixel.amount})"
    seen = {warning["field"] for warning in pixel.warnings}
    confirmed = dataclasses.replace(
        pixel,
        amount=amount,
        commission=earned.amount,
        rule_id=earned.rule_id,
        rule_version=earned.rule_version,
        items=items,
        new_customer=new_customer,
        flags=[flag for flag in pixel.flags if flag != PIXEL_UNVERIFIED],
        explanation=[*pixel.explanation, note, earned.explanation],
        warnings=[*pixel.warnings,
                  *(w for w in data.get("warnings") or () if w["field"] not in seen)],
        pixel_unverified=False,
        updated_at=now,
    )  # fmt: skip
    entry = NewAuditEntry("conversion", "confirmed", actor, now, snapshot(pixel),
                          snapshot(confirmed), note)  # fmt: skip
    return confirmed if store.confirm(confirmed, entry) else None


def _code_touch(
    store: IntakeStore,
    offer: IntakeOffer,
    code: str | None,
    amount: Decimal,
    key: str | None,
    at: dt.datetime,
) -> tuple[engine.CodeTouch | None, PromoRow | None]:
    """The promo code as checked for this order, and its row; (None, None) without one."""
    if not code:
        return None, None
    promo = store.promo(PromoCode.key_for(code))
    if promo is None:
        return None, None
    check = check_code(code, promo, offer.max_discount_percent, offer.id, amount, at,
                       promo.partner_status)  # fmt: skip
    valid, reason = check.valid, check.reason
    if valid and promo.max_uses_per_customer is not None and key is not None:
        if store.customer_uses(promo.id, key, CLOSED) >= promo.max_uses_per_customer:
            valid, reason = False, "exhausted for this customer"
    return engine.CodeTouch(promo.code, promo.partner, valid, reason), promo


def _code_exhausted(touches: engine.Touches) -> engine.Touches:
    """The touches with the promo code out of uses."""
    if touches.code is None:
        return touches
    exhausted = dataclasses.replace(touches.code, valid=False, reason="exhausted")
    return dataclasses.replace(touches, code=exhausted)


def _rows(
    store: IntakeStore,
    offer: IntakeOffer,
    fixed: dict[str, Any],
    verdict: engine.Verdict,
    earlier: engine.CustomerTouch | None,
    data: Mapping[str, Any],
    stamp: tuple[Any, ...],
    actor: str,
    now: dt.datetime,
) -> tuple[NewConversion, NewBinding | None, NewAuditEntry]:
    """The new conversion as the verdict makes it, the customer's binding it calls for, and
    its audit entry."""
    earned = _earned(store, offer, verdict, fixed["type"], fixed["amount"], fixed["occurred_at"],
                     data, stamp)  # fmt: skip
    conversion = NewConversion(
        **fixed,
        partner_id=verdict.partner_id,
        attribution=verdict.method,
        status=verdict.status,
        reason=verdict.rejected,
        flags=[*verdict.flags, *([PIXEL_UNVERIFIED] if fixed["pixel_unverified"] else [])],
        commission=earned.amount,
        rule_id=earned.rule_id,
        rule_version=earned.rule_version,
        explanation=[*verdict.explanation, earned.explanation],
    )
    entry = NewAuditEntry("conversion", "created", actor, now, None, snapshot(conversion),
                          "; ".join(verdict.explanation))  # fmt: skip
    return conversion, _binding(conversion, earlier), entry


def _earned(
    store: IntakeStore,
    offer: IntakeOffer,
    verdict: engine.Verdict,
    kind: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    data: Mapping[str, Any],
    stamp: tuple[Any, ...],
) -> commissions.Commission:
    """The commission the rules of now give this conversion (0.00 when rejected)."""
    if verdict.status == ConversionStatus.REJECTED:
        return commissions.Commission(ZERO, None, None, "rejected: no commission")
    # Core on the store's connection: the rules are read again only when they changed
    return commission_rules.for_new_conversion(
        store.connection, offer, verdict.partner_id, kind, amount, occurred_at,
        data.get("items"), data.get("new_customer"), stamp,
    )  # fmt: skip


def _same_or_conflict(found: Any, amount: Decimal) -> Intake:
    if found.amount != amount:
        raise Conflict(
            f"Order {found.order_id} was already recorded with amount {found.amount}.",
            [{"field": "amount", "message": "Differs from the order already recorded."}],
        )
    return Intake(found, created=False)


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


def _binding(conversion: NewConversion, earlier: engine.CustomerTouch | None) -> NewBinding | None:
    """The customer bound to the conversion's partner, unless a live binding exists (the
    first one wins) or there is no one to bind."""
    key, partner_id, at = conversion.customer_key, conversion.partner_id, conversion.occurred_at
    if partner_id is None or conversion.status != ConversionStatus.PENDING or key is None:
        return None
    if earlier is None:
        return NewBinding(conversion.offer_id, key, partner_id, at)
    if at - earlier.attributed_at > engine.CUSTOMER_BINDING:
        return NewBinding(conversion.offer_id, key, partner_id, at,
                          lapsed_before=at - engine.CUSTOMER_BINDING)  # fmt: skip
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
        if target == ConversionStatus.REJECTED:
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
    pending = (ConversionStatus.PENDING,)
    return _review(session, conversion_id, ConversionStatus.APPROVED, pending, actor,
                   reason or "approved by staff")  # fmt: skip


def reject(session: Session, conversion_id: int, actor: str, reason: str) -> Conversion:
    """Staff rejection of a pending or approved conversion; commission drops to 0.00."""
    open_ = (ConversionStatus.PENDING, ConversionStatus.APPROVED)
    return _review(session, conversion_id, ConversionStatus.REJECTED, open_, actor, reason)


def approve_due(session: Session, now: dt.datetime, actor: str = "approve-due") -> int:
    """Approve unflagged pending conversions whose hold has passed; returns how many."""
    due = list(
        session.scalars(
            select(Conversion.id)
            .where(Conversion.status == ConversionStatus.PENDING, Conversion.hold_until <= now)
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
            .where(Conversion.id == conversion_id, Conversion.status == ConversionStatus.PENDING)
            .values(status=ConversionStatus.APPROVED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            after = {**before, "status": str(ConversionStatus.APPROVED)}
            audit.record(session, "conversion", conversion_id, "approved", actor, before, after,
                         "hold period over")  # fmt: skip
            ledger.follow_conversion(session, conversion_id=conversion_id,
                                     partner_id=conversion.partner_id,
                                     currency=conversion.currency, status=ConversionStatus.APPROVED,
                                     commission=conversion.commission, actor=actor)  # fmt: skip
            approved += 1
        session.commit()
    return approved


def record_pixel(args: Mapping[str, str], click_id: str | None, app: Any) -> Intake | None:
    """A conversion reported by the pixel on the merchant's thank-you page.

    Bad or incomplete required parameters record nothing, nor does an offer whose `pixel`
    is `off` (the pixel still answers its GIF); under `review` the conversion waits for
    staff or for the server's postback of the same order (see _confirm_pixel).
    """
    from pydantic import ValidationError

    from affiliates.extensions import db
    from affiliates.validation import ConversionCreate, from_text

    fields = ("offer_id", "order_id", "amount", "type", "currency", "promo_code")
    # bounded, yet long enough that an oversized value fails validation instead of being cut
    data: dict[str, Any] = {name: args[name][:1000] for name in fields if args.get(name)}
    if click_id:
        data["click_id"] = click_id[:64]
    try:
        # an unusable optional field (a mangled promo code) is dropped and recorded as a
        # warning; a bad required one (NUL in the order id, say) records nothing. The query's
        # text is read as the API reads a query: offer_id from ASCII digits only.
        body = ConversionCreate.model_validate(from_text(ConversionCreate, data))
    except ValidationError:
        return None
    try:
        return record(
            db.engine,  # type: ignore[arg-type]
            body.intake(),
            actor="pixel",
            secret=app.config["IP_HASH_KEY"],
            now=app.extensions["clock"](),
            source="pixel",
        )
    except DomainError:
        return None
