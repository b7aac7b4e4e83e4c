"""Promo codes: created by staff for a partner, unique whatever the case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.exceptions import Conflict, Invalid, NotFound
from affiliates.models import PromoCode
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.program import get_offer, get_partner
from affiliates.services.viewer import Viewer, visible
from tracking.promo import PromoCheck, check_code


def _check_discount_cap(offer_max: Any, discount_type: str, value: Any) -> None:
    if discount_type == "percent" and offer_max is not None and value > offer_max:
        raise Invalid(
            "discount_value",
            f"The offer allows discounts of at most {offer_max}%.",
        )


def create_promo_code(session: Session, data: Mapping[str, Any]) -> PromoCode:
    """Create a code; a percent above the offer's max_discount_percent is refused."""
    try:
        partner = get_partner(session, data["partner_id"])
    except NotFound as exc:
        raise Invalid("partner_id", exc.detail) from None
    try:
        offer = get_offer(session, data["offer_id"])
    except NotFound as exc:
        raise Invalid("offer_id", exc.detail) from None
    _check_discount_cap(offer.max_discount_percent, data["discount_type"], data["discount_value"])
    code = PromoCode(
        code_key=PromoCode.key_for(data["code"]),
        **{**data, "partner_id": partner.id, "offer_id": offer.id},
    )
    session.add(code)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "This promo code is taken (codes are unique whatever the letter case).",
            [{"field": "code", "message": "Already exists."}],
        ) from None
    return code


@dataclass(frozen=True)
class PromoCodeFilters:
    """Which promo codes a list shows: by partner and offer."""

    partner_id: int | None = None
    offer_id: int | None = None


def find_code(session: Session, code: str) -> PromoCode | None:
    """The code, whatever its letter case, if it exists (no viewer: the checkout's lookup)."""
    return session.scalar(select(PromoCode).where(PromoCode.code_key == PromoCode.key_for(code)))


def get_promo_code(session: Session, code: str, viewer: Viewer | None = None) -> PromoCode:
    """A code by its text (any letter case); for a partner viewer, only its own."""
    promo = find_code(session, code[:64])
    if promo is None or not visible(viewer, promo.partner_id):
        raise NotFound(f"Promo code {code[:64]} does not exist.")
    return promo


def list_promo_codes(
    session: Session,
    filters: PromoCodeFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[PromoCode]:
    """Codes, newest first; a partner viewer sees its own only."""
    stmt = viewer.scope(select(PromoCode), PromoCode.partner_id, filters.partner_id)
    if filters.offer_id is not None:
        stmt = stmt.where(PromoCode.offer_id == filters.offer_id)
    return paginate(session, stmt, PromoCode.id, limit, cursor)


def update_promo_code(session: Session, code: str, changes: Mapping[str, Any]) -> PromoCode:
    """Deactivate a code or change its limits and dates."""
    promo = get_promo_code(session, code)
    if "active" in changes and changes["active"] is None:
        raise Invalid("active", "Must be true or false.")
    for key, value in changes.items():
        setattr(promo, key, value)
    if promo.valid_from and promo.valid_until and promo.valid_until <= promo.valid_from:
        session.rollback()
        raise Invalid("valid_until", "valid_until must be after valid_from.")
    if promo.max_uses is not None and promo.max_uses < promo.uses:
        session.rollback()
        raise Invalid("max_uses", "The code has already been used more times than that.")
    session.commit()
    return promo


def validate_code(
    session: Session,
    code: str,
    offer_id: int | None,
    amount: Any,
    customer_id: str | None,
    now: Any,
) -> PromoCheck:
    """Check a code as a shop's till or checkout would, before an order is placed."""
    promo = find_code(session, code)
    if promo is None:
        return check_code(code, None, None, offer_id, amount, now)
    offer = get_offer(session, promo.offer_id)
    partner = get_partner(session, promo.partner_id)
    return check_code(
        code, promo, offer.max_discount_percent, offer_id, amount, now, partner.status
    )
