"""Offers and partners (admin)."""

from __future__ import annotations

from sqlalchemy import select

from affiliates.api.core import Principal, endpoint, paginate
from affiliates.api.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    ListQuery,
    OfferCreate,
    OfferOut,
    OfferUpdate,
    Page,
    PartnerCreate,
    PartnerOut,
    PartnerQuery,
    PartnerUpdate,
)
from affiliates.extensions import db
from affiliates.models import Offer, Partner
from affiliates.services import api_keys, program


@endpoint("/offers", "POST", summary="Create an offer", body=OfferCreate, response=OfferOut,
          status=201)  # fmt: skip
def create_offer(_p: Principal, body: OfferCreate) -> OfferOut:
    """Create an offer."""
    offer = program.create_offer(db.session, body.model_dump(exclude_none=True))
    return OfferOut.model_validate(offer)


@endpoint("/offers", summary="List offers", query=ListQuery, response=Page[OfferOut])
def list_offers(_p: Principal, query: ListQuery) -> Page[OfferOut]:
    """Offers, newest first."""
    rows, cursor = paginate(db.session, select(Offer), Offer.id, query.limit, query.cursor)
    return Page[OfferOut](items=[OfferOut.model_validate(o) for o in rows], next_cursor=cursor)


@endpoint("/offers/<int:offer_id>", summary="Get an offer", response=OfferOut)
def get_offer(_p: Principal, offer_id: int) -> OfferOut:
    """One offer."""
    return OfferOut.model_validate(program.get_offer(db.session, offer_id))


@endpoint("/offers/<int:offer_id>", "PATCH", summary="Change an offer", body=OfferUpdate,
          response=OfferOut)  # fmt: skip
def update_offer(_p: Principal, offer_id: int, body: OfferUpdate) -> OfferOut:
    """Change an offer's terms."""
    changes = body.model_dump(exclude_unset=True)
    return OfferOut.model_validate(program.update_offer(db.session, offer_id, changes))


@endpoint("/partners", "POST", summary="Create a partner", body=PartnerCreate,
          response=PartnerOut, status=201, responses={409: "Email already registered"})  # fmt: skip
def create_partner(_p: Principal, body: PartnerCreate) -> PartnerOut:
    """Create a partner; with a password it can log into its cabinet."""
    partner = program.create_partner(db.session, body.name, body.email, body.password, body.status)
    return PartnerOut.model_validate(partner)


@endpoint("/partners", summary="List partners", query=PartnerQuery, response=Page[PartnerOut])
def list_partners(_p: Principal, query: PartnerQuery) -> Page[PartnerOut]:
    """Partners, newest first, optionally by status."""
    stmt = select(Partner)
    if query.status:
        stmt = stmt.where(Partner.status == query.status)
    rows, cursor = paginate(db.session, stmt, Partner.id, query.limit, query.cursor)
    return Page[PartnerOut](items=[PartnerOut.model_validate(p) for p in rows], next_cursor=cursor)


@endpoint("/partners/<int:partner_id>", summary="Get a partner", response=PartnerOut)
def get_partner(_p: Principal, partner_id: int) -> PartnerOut:
    """One partner."""
    return PartnerOut.model_validate(program.get_partner(db.session, partner_id))


@endpoint("/partners/<int:partner_id>", "PATCH", summary="Change a partner",
          body=PartnerUpdate, response=PartnerOut)  # fmt: skip
def update_partner(_p: Principal, partner_id: int, body: PartnerUpdate) -> PartnerOut:
    """Approve, suspend or rename a partner, or set its cabinet password."""
    changes = body.model_dump(exclude_unset=True)
    return PartnerOut.model_validate(program.update_partner(db.session, partner_id, changes))


@endpoint("/partners/<int:partner_id>/api-keys", "POST", summary="Issue a partner API key",
          body=ApiKeyCreate, body_optional=True, response=ApiKeyOut, status=201)  # fmt: skip
def create_partner_key(_p: Principal, partner_id: int, body: ApiKeyCreate) -> ApiKeyOut:
    """A `partner`-scoped key bound to this partner; shown once."""
    partner = program.get_partner(db.session, partner_id)
    key = api_keys.issue(db.session, "partner", name=body.name, partner_id=partner.id)
    return ApiKeyOut(key=key, scope="partner", partner_id=partner.id)
