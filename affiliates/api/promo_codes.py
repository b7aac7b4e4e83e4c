"""Promo codes: created by staff, listed for partners, checked by the merchant's checkout."""

from __future__ import annotations

from flask import current_app

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import (
    Page,
    PromoCheckOut,
    PromoCheckQuery,
    PromoCodeCreate,
    PromoCodeOut,
    PromoCodeQuery,
    PromoCodeUpdate,
)
from affiliates.extensions import db
from affiliates.services import promo_codes


@endpoint("/promo-codes", "POST", summary="Create a promo code", body=PromoCodeCreate,
          response=PromoCodeOut, status=201,
          responses={409: "Code taken (case-insensitive)"})  # fmt: skip
def create_promo_code(_p: Principal, body: PromoCodeCreate) -> PromoCodeOut:
    """Create a partner's code; a percent above the offer's cap is refused."""
    code = promo_codes.create_promo_code(db.session, body.model_dump())
    return PromoCodeOut.model_validate(code)


@endpoint("/promo-codes", summary="List promo codes", scopes=("partner",),
          query=PromoCodeQuery, response=Page[PromoCodeOut])  # fmt: skip
def list_promo_codes(principal: Principal, query: PromoCodeQuery) -> Page[PromoCodeOut]:
    """Codes, newest first; a partner key sees its own only."""
    filters = promo_codes.PromoCodeFilters(partner_id=query.partner_id, offer_id=query.offer_id)
    page = promo_codes.list_promo_codes(db.session, filters, principal.viewer,
                                        limit=query.limit, cursor=query.cursor)  # fmt: skip
    return Page[PromoCodeOut](
        items=[PromoCodeOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@endpoint("/promo-codes/<string:code>", "PATCH", summary="Change a promo code",
          body=PromoCodeUpdate, response=PromoCodeOut)  # fmt: skip
def update_promo_code(_p: Principal, code: str, body: PromoCodeUpdate) -> PromoCodeOut:
    """Deactivate a code or change its limits and dates (the code is case-insensitive)."""
    changes = body.model_dump(exclude_unset=True)
    return PromoCodeOut.model_validate(promo_codes.update_promo_code(db.session, code, changes))


@endpoint("/promo-codes/<string:code>", summary="Check a promo code", scopes=("conversions",),
          query=PromoCheckQuery, response=PromoCheckOut)  # fmt: skip
def check_promo_code(_p: Principal, code: str, query: PromoCheckQuery) -> PromoCheckOut:
    """Whether a code is valid for an order, why not, and the discount it gives."""
    result = promo_codes.validate_code(
        db.session,
        code[:64],
        query.offer_id,
        query.amount,
        query.customer_id,
        current_app.extensions["clock"](),
    )
    return PromoCheckOut.model_validate(result.to_dict())
