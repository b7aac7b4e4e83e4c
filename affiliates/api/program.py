"""Offers and partners (admin)."""

from __future__ import annotations

from affiliates.api.core import Principal, endpoint
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
from affiliates.services import api_keys, program


@endpoint("/offers", "POST", summary="Create an offer", body=OfferCreate, response=OfferOut,
          status=201, responses={409: "Another offer took the same slug at once"})  # fmt: skip
def create_offer(_p: Principal, body: OfferCreate) -> OfferOut:
    """Create an offer."""
    offer = program.create_offer(db.session, body.model_dump(exclude_none=True))
    return OfferOut.model_validate(offer)


@endpoint("/offers", summary="List offers", query=ListQuery, response=Page[OfferOut])
def list_offers(principal: Principal, query: ListQuery) -> Page[OfferOut]:
    """Offers, newest first."""
    page = program.list_offers(db.session, program.OfferFilters(), principal.viewer,
                               limit=query.limit, cursor=query.cursor)  # fmt: skip
    return Page[OfferOut](items=[OfferOut.model_validate(o) for o in page.items],
                          next_cursor=page.next_cursor)  # fmt: skip


@endpoint("/offers/<int:offer_id>", summary="Get an offer", response=OfferOut)
def get_offer(principal: Principal, offer_id: int) -> OfferOut:
    """One offer."""
    return OfferOut.model_validate(program.get_offer(db.session, offer_id, principal.viewer))


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
def list_partners(principal: Principal, query: PartnerQuery) -> Page[PartnerOut]:
    """Partners, newest first, optionally by status."""
    filters = program.PartnerFilters(status=query.status)
    page = program.list_partners(db.session, filters, principal.viewer, limit=query.limit,
                                 cursor=query.cursor)  # fmt: skip
    return Page[PartnerOut](items=[PartnerOut.model_validate(p) for p in page.items],
                            next_cursor=page.next_cursor)  # fmt: skip


@endpoint("/partners/<int:partner_id>", summary="Get a partner", response=PartnerOut)
def get_partner(principal: Principal, partner_id: int) -> PartnerOut:
    """One partner."""
    partner = program.get_partner(db.session, partner_id, principal.viewer)
    return PartnerOut.model_validate(partner)


@endpoint("/partners/<int:partner_id>", "PATCH", summary="Change a partner",
          body=PartnerUpdate, response=PartnerOut,
          responses={409: "Email already registered"})  # fmt: skip
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
