"""Tracked links: made for a partner and an offer, archived instead of deleted, listed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shortuuid
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.exceptions import Invalid, NotFound
from affiliates.models import Link
from affiliates.models.tracking import UTM_FIELDS
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.program import get_offer, get_partner
from affiliates.services.viewer import Viewer, visible
from affiliates.urls import host_allowed

CODE_LENGTH = 8
_codes = shortuuid.ShortUUID()


def create_link(session: Session, partner_id: int, offer_id: int, **fields: Any) -> Link:
    """Make a tracked link; its destination must be inside the offer's allowed domains."""
    partner = get_partner(session, partner_id)
    try:
        offer = get_offer(session, offer_id)
    except NotFound as exc:
        raise Invalid("offer_id", exc.detail) from None
    if offer.status != "active":
        raise Invalid("offer_id", "The offer is archived.")
    destination = fields.get("destination_url") or offer.destination_url
    if not host_allowed(destination, offer.allowed_domains):
        raise Invalid(
            "destination_url",
            f"The destination must be on the offer's allowed domains: "
            f"{', '.join(offer.allowed_domains)}.",
        )
    defaults = {
        "utm_source": partner.ref_code,
        "utm_medium": "affiliate",
        "utm_campaign": offer.slug,
    }
    values = {name: fields.get(name) or defaults.get(name) for name in UTM_FIELDS}
    for _attempt in range(5):
        link = Link(
            code=_codes.random(length=CODE_LENGTH),
            partner_id=partner.id,
            offer_id=offer.id,
            destination_url=destination,
            sub_id=fields.get("sub_id"),
            **values,
        )
        session.add(link)
        try:
            session.commit()
            return link
        except IntegrityError:  # a code collision: draw another
            session.rollback()
    raise RuntimeError("could not draw a free link code")


@dataclass(frozen=True)
class LinkFilters:
    """Which links a list shows: by partner, offer, and archived or live."""

    partner_id: int | None = None
    offer_id: int | None = None
    archived: bool | None = None


def get_link(session: Session, link_id: int, viewer: Viewer | None = None) -> Link:
    """A link by id; for a partner viewer, only its own (others are 'not found')."""
    link = session.get(Link, link_id)
    if link is None or not visible(viewer, link.partner_id):
        raise NotFound(f"Link {link_id} does not exist.")
    return link


def list_links(
    session: Session,
    filters: LinkFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Link]:
    """Links, newest first; a partner viewer sees its own only."""
    stmt = viewer.scope(select(Link), Link.partner_id, filters.partner_id)
    if filters.offer_id is not None:
        stmt = stmt.where(Link.offer_id == filters.offer_id)
    if filters.archived is not None:
        archived = Link.archived_at.is_not(None) if filters.archived else Link.archived_at.is_(None)
        stmt = stmt.where(archived)
    return paginate(session, stmt, Link.id, limit, cursor)


def update_link(
    session: Session, link_id: int, changes: Mapping[str, Any], viewer: Viewer | None = None
) -> Link:
    """Archive or restore a link, or change its UTM tags; a partner viewer only its own."""
    link = get_link(session, link_id, viewer)
    if "archived" in changes and changes["archived"] is None:
        raise Invalid("archived", "Must be true or false.")
    for key, value in changes.items():
        if key == "archived":
            link.archived_at = (link.archived_at or utcnow()) if value else None
        else:
            setattr(link, key, value)
    session.commit()
    return link
