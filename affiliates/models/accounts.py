"""People who log in and machines that call the API."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from affiliates.database import Base, utcnow

if TYPE_CHECKING:
    from affiliates.models.program import Partner


class Role(StrEnum):
    """What a login may do: staff administer (`admin` changes, `analyst` only reads), a
    partner works in its own cabinet."""

    ADMIN = "admin"
    ANALYST = "analyst"
    PARTNER = "partner"


STAFF_ROLES = (Role.ADMIN, Role.ANALYST)
# A partner's login works while the partner works with us or waits for approval (the
# cabinet shows a pending partner that it waits); suspended or rejected, it ends at once.
LOGIN_PARTNER_STATUSES = ("active", "pending")


def new_session_token() -> str:
    """A fresh, unguessable id for a user's sessions."""
    return secrets.token_urlsafe(32)


class User(Base):
    """A login: staff (role admin or analyst) or a partner's cabinet (role partner).

    It is what Flask-Login calls a user; its session id is `session_token`, not the row id,
    so a new password (a new token) ends every session made with the old one, and a session
    cookie forged with a leaked secret key still has to guess a token.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'analyst', 'partner')", name="role_known"),
        CheckConstraint(
            "(role = 'partner' AND partner_id IS NOT NULL)"
            " OR (role <> 'partner' AND partner_id IS NULL)",
            name="partner_login_has_partner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    partner: Mapped[Partner | None] = relationship()

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    # What Flask-Login asks of a user: UserMixin's members, written out so the models import
    # no Flask, and without its __eq__ by get_id() (a user would stop equalling itself when
    # its password, and so its token, changed).
    @property
    def is_active(self) -> bool:
        """Staff always; a partner's login while its partner is active or pending."""
        if self.role != Role.PARTNER:
            return True
        return self.partner is not None and self.partner.status in LOGIN_PARTNER_STATUSES

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.session_token


class ApiKey(Base):
    """An API key; only its SHA-256 is stored, found by its public prefix."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Conversions keys may require signed postbacks (HMAC-SHA256 with this secret).
    signing_secret: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None]


class UsedSignature(Base):
    """A signed request's signature, kept while its timestamp is still accepted: the primary
    key lets each signature in once (see affiliates.services.used_signatures)."""

    __tablename__ = "used_signatures"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the signature's timestamp plus the 300 s it is accepted for; pruned a while after
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
