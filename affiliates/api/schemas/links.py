"""Tracked links."""

from __future__ import annotations

from affiliates.api.schemas.common import Input, ListQuery, Output, Patch, Timestamp
from affiliates.validation import Bool, Id, Url, UtmValue


class LinkCreate(Input):
    partner_id: Id | None = None
    offer_id: Id
    destination_url: Url | None = None
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_content: UtmValue | None = None
    utm_term: UtmValue | None = None
    sub_id: UtmValue | None = None


class LinkUpdate(Patch):
    """`archived` is true or false; null clears a tag."""

    NULLABLE = frozenset(
        {"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "sub_id"}
    )

    archived: Bool | None = None
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_content: UtmValue | None = None
    utm_term: UtmValue | None = None
    sub_id: UtmValue | None = None


class LinkOut(Output):
    id: int
    code: str
    url: str
    destination_url: str
    partner_id: int
    offer_id: int
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    sub_id: str | None
    archived: bool
    created_at: Timestamp


class LinkQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None
    archived: Bool | None = None
