"""Tracked links (admin: any partner; partner key: its own)."""

from __future__ import annotations

from flask import current_app

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import LinkCreate, LinkOut, LinkQuery, LinkUpdate, Page
from affiliates.exceptions import Invalid, NotFound
from affiliates.extensions import db
from affiliates.models import Link
from affiliates.services import links


def _out(link: Link) -> LinkOut:
    return LinkOut.model_validate(link.to_dict(current_app.config["BASE_URL"]))


def _forget(link: Link) -> None:
    # This process drops the link at once; other processes within LINK_CACHE_SECONDS.
    current_app.extensions["clicklog"].forget(link.code)


@endpoint("/links", "POST", summary="Create a tracked link", scopes=("partner",),
          body=LinkCreate, response=LinkOut, status=201)  # fmt: skip
def create_link(principal: Principal, body: LinkCreate) -> LinkOut:
    """Make a tracked short link; a partner key makes links for itself only."""
    fields = body.model_dump(exclude_none=True, exclude={"partner_id", "offer_id"})
    partner_id = principal.viewer.acting_for(body.partner_id)
    if partner_id is None:
        raise Invalid("partner_id", "Field required.")
    try:
        link = links.create_link(db.session, partner_id, body.offer_id, **fields)
    except NotFound as exc:
        raise Invalid("partner_id", exc.detail) from None
    return _out(link)


@endpoint("/links", summary="List tracked links", scopes=("partner",), query=LinkQuery,
          response=Page[LinkOut])  # fmt: skip
def list_links(principal: Principal, query: LinkQuery) -> Page[LinkOut]:
    """Links, newest first; a partner key sees its own only."""
    filters = links.LinkFilters(partner_id=query.partner_id, offer_id=query.offer_id,
                                archived=query.archived)  # fmt: skip
    page = links.list_links(db.session, filters, principal.viewer, limit=query.limit,
                            cursor=query.cursor)  # fmt: skip
    return Page[LinkOut](items=[_out(link) for link in page.items], next_cursor=page.next_cursor)


@endpoint("/links/<int:link_id>", summary="Get a tracked link", scopes=("partner",),
          response=LinkOut)  # fmt: skip
def get_link(principal: Principal, link_id: int) -> LinkOut:
    """One link; another partner's answers 404."""
    return _out(links.get_link(db.session, link_id, principal.viewer))


@endpoint("/links/<int:link_id>", "PATCH", summary="Archive a link or change its tags",
          scopes=("partner",), body=LinkUpdate, response=LinkOut)  # fmt: skip
def update_link(principal: Principal, link_id: int, body: LinkUpdate) -> LinkOut:
    """Archive (`archived: true`) or restore a link, or change its UTM tags."""
    link = links.update_link(db.session, link_id, body.model_dump(exclude_unset=True),
                             principal.viewer)  # fmt: skip
    _forget(link)
    return _out(link)


@endpoint("/links/<int:link_id>", "DELETE", summary="Archive a link", scopes=("partner",),
          response=LinkOut)  # fmt: skip
def archive_link(principal: Principal, link_id: int) -> LinkOut:
    """Archive a link: it stops redirecting (404) and its clicks are kept."""
    link = links.update_link(db.session, link_id, {"archived": True}, principal.viewer)
    _forget(link)
    return _out(link)
