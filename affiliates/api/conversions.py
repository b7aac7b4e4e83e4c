"""Conversions: intake (idempotent), refunds (idempotent with a refund_id), staff review,
listing."""

from __future__ import annotations

from flask import current_app

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import (
    ApproveIn,
    ConversionCreate,
    ConversionOut,
    ConversionQuery,
    ListQuery,
    Page,
    RefundIn,
    RefundOut,
    RejectIn,
)
from affiliates.extensions import db
from affiliates.models import Conversion
from affiliates.services import conversions, refunds

_FIELDS = tuple(ConversionOut.model_fields)


def _out(conversion: Conversion) -> ConversionOut:
    return ConversionOut.model_validate(conversion)


@endpoint("/conversions", "POST", summary="Record a sale or lead (idempotent)",
          scopes=("conversions",), body=ConversionCreate, response=ConversionOut, status=201,
          responses={200: "The same order again: the original answer; or an order the pixel "
                          "reported (flag pixel_unverified), now confirmed: this amount wins",
                     409: "The same order with a different amount"})  # fmt: skip
def create_conversion(principal: Principal, body: ConversionCreate) -> tuple[ConversionOut, int]:
    """Record a conversion once per (offer_id, type, order_id), attribute it and hold it."""
    intake = conversions.record(
        db.engine,  # type: ignore[arg-type]
        body.intake(),
        actor=principal.actor,
        secret=current_app.config["IP_HASH_KEY"],
        now=current_app.extensions["clock"](),
    )
    if not intake.created:
        return _out(intake.conversion), 200
    # the values just written, each already of its field's type: nothing to validate
    fresh = vars(intake.conversion)
    return ConversionOut.model_construct(**{name: fresh[name] for name in _FIELDS}), 201


@endpoint("/conversions", summary="List conversions", scopes=("conversions", "partner"),
          query=ConversionQuery, response=Page[ConversionOut])  # fmt: skip
def list_conversions(principal: Principal, query: ConversionQuery) -> Page[ConversionOut]:
    """Conversions, newest first; a partner key sees its own only."""
    filters = conversions.ConversionFilters(partner_id=query.partner_id, offer_id=query.offer_id,
                                            status=query.status, start=query.from_,
                                            end=query.to)  # fmt: skip
    page = conversions.list_conversions(db.session, filters, principal.viewer,
                                        limit=query.limit, cursor=query.cursor)  # fmt: skip
    return Page[ConversionOut](items=[_out(c) for c in page.items], next_cursor=page.next_cursor)


@endpoint("/conversions/<int:conversion_id>", summary="Get a conversion",
          scopes=("conversions", "partner"), response=ConversionOut)  # fmt: skip
def get_conversion(principal: Principal, conversion_id: int) -> ConversionOut:
    """One conversion with its attribution explanation; another partner's answers 404."""
    return _out(conversions.get(db.session, conversion_id, principal.viewer))


@endpoint("/conversions/<int:conversion_id>/refund", "POST", summary="Refund a conversion",
          scopes=("conversions",), body=RefundIn, body_optional=True, response=ConversionOut,
          responses={200: "Refunded; or a refund_id already applied: the first answer again",
                     409: "Rejected; or the refund_id applied with another amount"})  # fmt: skip
def refund_conversion(principal: Principal, conversion_id: int, body: RefundIn) -> ConversionOut:
    """Full refund: reversed, commission 0.00; partial: commission on what remains. With a
    `refund_id`, applied once: a repeat answers 200 with the first answer, changing nothing."""
    outcome = refunds.refund(db.session, conversion_id, body.amount, principal.actor,
                             body.refund_id)  # fmt: skip
    if outcome.applied or outcome.refund is None:
        return _out(outcome.conversion)
    # A repeat: the conversion as the first call left it. Fields added to conversions since
    # that answer was stored come from the row as it is now.
    current = _out(outcome.conversion).model_dump()
    return ConversionOut.model_validate({**current, **outcome.refund.answer})


@endpoint("/conversions/<int:conversion_id>/refunds", summary="List a conversion's refunds",
          scopes=("conversions", "partner"), query=ListQuery,
          response=Page[RefundOut])  # fmt: skip
def list_refunds(principal: Principal, conversion_id: int, query: ListQuery) -> Page[RefundOut]:
    """The refunds applied to a conversion, newest first; another partner's answers 404."""
    page = refunds.list_refunds(db.session, conversion_id, principal.viewer,
                                limit=query.limit, cursor=query.cursor)  # fmt: skip
    items = [RefundOut.model_validate(refund) for refund in page.items]
    return Page[RefundOut](items=items, next_cursor=page.next_cursor)


@endpoint("/conversions/<int:conversion_id>/approve", "POST", summary="Approve a conversion",
          body=ApproveIn, body_optional=True, response=ConversionOut,
          responses={409: "Not approvable in its status"})  # fmt: skip
def approve_conversion(principal: Principal, conversion_id: int, body: ApproveIn) -> ConversionOut:
    """Staff approval, also of a conversion held by fraud flags."""
    return _out(conversions.approve(db.session, conversion_id, principal.actor, body.reason))


@endpoint("/conversions/<int:conversion_id>/reject", "POST", summary="Reject a conversion",
          body=RejectIn, response=ConversionOut,
          responses={409: "Not rejectable in its status"})  # fmt: skip
def reject_conversion(principal: Principal, conversion_id: int, body: RejectIn) -> ConversionOut:
    """Staff rejection with a reason."""
    return _out(conversions.reject(db.session, conversion_id, principal.actor, body.reason))
