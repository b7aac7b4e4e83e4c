"""Offers and partners: create, change, look up, list."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.exceptions import Conflict, Invalid, NotFound
from affiliates.models import Offer, Partner, User
from affiliates.models.program import DEFAULT_PRIORITY
from affiliates.services import accounts
from affiliates.services.paging import DEFAULT_LIMIT, Page, paginate
from affiliates.services.viewer import Viewer, visible
from affiliates.urls import host_allowed, host_of

REF_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def slugify(text: str) -> str:
    """An ASCII slug for URLs and utm_campaign; Cyrillic is transliterated roughly."""
    text = text.lower().translate(_CYRILLIC)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:60] or "offer"


_CYRILLIC = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya",
    }
)  # fmt: skip


@dataclass(frozen=True)
class OfferFilters:
    """Which offers a list shows: all, or those of one status."""

    status: str | None = None


@dataclass(frozen=True)
class PartnerFilters:
    """Which partners a list shows: all, or those of one status."""

    status: str | None = None


def _shared(offer: Any) -> Any:
    # The program's catalogue: a partner may read (and link to) the active offers, not
    # the archived ones. `offer` is the Offer class in a query, or one offer.
    return offer.status == "active"


def get_offer(session: Session, offer_id: int, viewer: Viewer | None = None) -> Offer:
    """An offer; a partner viewer reads only active ones (others are 'not found')."""
    offer = session.get(Offer, offer_id)
    if offer is None or not visible(viewer, None, shared=_shared(offer)):
        raise NotFound(f"Offer {offer_id} does not exist.")
    return offer


def list_offers(
    session: Session,
    filters: OfferFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Offer]:
    """Offers, newest first; a partner viewer sees the active ones."""
    stmt = viewer.scope(select(Offer), None, shared=_shared(Offer))
    if filters.status is not None:
        stmt = stmt.where(Offer.status == filters.status)
    return paginate(session, stmt, Offer.id, limit, cursor)


def get_partner(session: Session, partner_id: int, viewer: Viewer | None = None) -> Partner:
    """A partner; a partner viewer reads only itself (another is 'not found')."""
    partner = session.get(Partner, partner_id)
    if partner is None or not visible(viewer, partner.id):
        raise NotFound(f"Partner {partner_id} does not exist.")
    return partner


def list_partners(
    session: Session,
    filters: PartnerFilters,
    viewer: Viewer,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Partner]:
    """Partners, newest first; a partner viewer sees only itself."""
    stmt = viewer.scope(select(Partner), Partner.id)
    if filters.status is not None:
        stmt = stmt.where(Partner.status == filters.status)
    return paginate(session, stmt, Partner.id, limit, cursor)


def _unique_slug(session: Session, name: str, exclude_id: int | None = None) -> str:
    base = slugify(name)
    slug, n = base, 1
    while True:
        stmt = select(Offer.id).where(Offer.slug == slug)
        if exclude_id is not None:
            stmt = stmt.where(Offer.id != exclude_id)
        if session.scalar(stmt) is None:
            return slug
        n += 1
        slug = f"{base}-{n}"


def _check_offer_domains(destination_url: str, allowed_domains: list[str]) -> None:
    if not host_allowed(destination_url, allowed_domains):
        raise Invalid(
            "destination_url", "The destination must be on one of the offer's allowed_domains."
        )


def create_offer(session: Session, data: Mapping[str, Any]) -> Offer:
    """Create an offer; allowed_domains default to the destination's host."""
    values = dict(data)
    if not values.get("allowed_domains"):
        values["allowed_domains"] = [host_of(values["destination_url"])]
    values["allowed_domains"] = sorted(set(values["allowed_domains"]))
    values.setdefault("attribution_priority", list(DEFAULT_PRIORITY))
    _check_offer_domains(values["destination_url"], values["allowed_domains"])
    offer = Offer(slug=_unique_slug(session, values["name"]), **values)
    session.add(offer)
    _commit_or_conflict(session, "An offer with this slug already exists.")
    return offer


_NULLABLE_OFFER_TERMS = ("target_cac", "max_discount_percent")


def update_offer(session: Session, offer_id: int, changes: Mapping[str, Any]) -> Offer:
    """Change an offer's terms; links already made must stay inside its domains."""
    offer = get_offer(session, offer_id)
    for key, value in changes.items():
        if value is None and key not in _NULLABLE_OFFER_TERMS:
            raise Invalid(key, "This field cannot be null.")
    for key, value in changes.items():
        setattr(offer, key, sorted(set(value)) if key == "allowed_domains" else value)
    try:
        _check_offer_domains(offer.destination_url, offer.allowed_domains)
    except Invalid:
        session.rollback()
        raise
    if "allowed_domains" in changes:
        from affiliates.models import Link

        destinations = session.scalars(
            select(Link.destination_url).where(
                Link.offer_id == offer.id, Link.archived_at.is_(None)
            )
        )
        for url in destinations:
            if not host_allowed(url, offer.allowed_domains):
                session.rollback()
                raise Invalid(
                    "allowed_domains",
                    f"A live link of this offer leads to {host_of(url)}; archive it first.",
                )
    session.commit()
    return offer


def new_ref_code(session: Session) -> str:
    """A short, URL-safe, unambiguous referral code not yet taken."""
    while True:
        code = "".join(secrets.choice(REF_ALPHABET) for _ in range(7))
        if session.scalar(select(Partner.id).where(Partner.ref_code == code)) is None:
            return code


def _email_taken(session: Session, email: str, exclude_partner: int | None = None) -> bool:
    stmt = select(Partner.id).where(func.lower(Partner.email) == email.lower())
    if exclude_partner is not None:
        stmt = stmt.where(Partner.id != exclude_partner)
    return session.scalar(stmt) is not None


def create_partner(
    session: Session, name: str, email: str, password: str | None = None, status: str = "active"
) -> Partner:
    """Create a partner (and its cabinet login when a password is given)."""
    email = email.strip().lower()
    if _email_taken(session, email) or (password and accounts.email_taken(session, email)):
        raise Conflict("A partner with this email already exists.", [_email_error()])
    partner = Partner(name=name, email=email, ref_code=new_ref_code(session), status=status)
    session.add(partner)
    if password:
        accounts.add_partner_login(session, partner, password)
    _commit_or_conflict(session, "A partner with this email already exists.")
    return partner


def update_partner(session: Session, partner_id: int, changes: Mapping[str, Any]) -> Partner:
    """Change a partner's name, email, status or cabinet password."""
    partner = get_partner(session, partner_id)
    login = session.scalar(select(User).where(User.partner_id == partner.id))
    for key in ("name", "status", "email"):
        if key in changes and changes[key] is None:
            raise Invalid(key, "This field cannot be null.")
    if "email" in changes:
        email = changes["email"].strip().lower()
        if _email_taken(session, email, exclude_partner=partner.id):
            raise Conflict("A partner with this email already exists.", [_email_error()])
        partner.email = email
        if login is not None:
            login.email = email
    for key in ("name", "status"):
        if key in changes:
            setattr(partner, key, changes[key])
    if changes.get("password"):
        if login is None:
            accounts.add_partner_login(session, partner, changes["password"])
        else:
            accounts.set_password(login, changes["password"])
    _commit_or_conflict(session, "A partner with this email already exists.")
    return partner


def _email_error() -> dict[str, str]:
    return {"field": "email", "message": "This email is already registered."}


def _commit_or_conflict(session: Session, message: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(message) from None
