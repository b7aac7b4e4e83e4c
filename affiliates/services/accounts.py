"""Logins: staff and partner users, their passwords (argon2id) and their sessions' ids.

The only module that hashes or checks a password. Functions named as steps (`add_staff`,
`add_partner_login`, `set_password`) leave the commit to the use case they are part of; the
use cases (`save_staff`, `change_password`, `authenticate` when it rehashes) commit.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from affiliates.exceptions import Conflict, Invalid
from affiliates.models import Partner, User
from affiliates.models.accounts import STAFF_ROLES, Role, new_session_token

MIN_PASSWORD_LENGTH = 8
# argon2id with the library's current recommended parameters (RFC 9106, low memory); a hash
# made with older ones is redone at the next login.
_hasher = PasswordHasher()


def normalise_email(email: str) -> str:
    """The form an email is stored and compared in."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (`$argon2id$…`, salt and parameters included)."""
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # checked for an unknown email, so a login takes one hash's time whether or not the email
    # exists
    return hash_password(secrets.token_urlsafe(16))


def _new_password_hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"At least {MIN_PASSWORD_LENGTH} characters.")
    return hash_password(password)


def _checked_email(email: str) -> str:
    email = normalise_email(email)
    if "@" not in email:
        raise Invalid("email", "Not an email address.")
    return email


def email_taken(session: Session, email: str) -> bool:
    """Whether a login already has this email (in any case)."""
    stmt = select(User.id).where(func.lower(User.email) == normalise_email(email))
    return session.scalar(stmt) is not None


def find_for_login(session: Session, email: str) -> User | None:
    """The user with this email (in any case), its partner loaded in the same query."""
    return session.scalar(
        select(User)
        .options(joinedload(User.partner))
        .where(func.lower(User.email) == normalise_email(email))
    )


def load_user(session: Session, session_token: str) -> User | None:
    """The active user a session belongs to (one query, the partner's status included), or
    None once that session ended: a new password, a suspended partner, a deleted login."""
    if not session_token or len(session_token) > 64:  # no stored token is longer
        return None
    user = session.scalar(
        select(User).options(joinedload(User.partner)).where(User.session_token == session_token)
    )
    return user if user is not None and user.is_active else None


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, or None; an unknown email costs the same hash
    check as a wrong password, so the answer's timing does not tell which emails exist.

    The user may be inactive (a suspended partner's login): the login page says so, and
    Flask-Login's login_user refuses it. A hash made with outdated parameters is redone.
    """
    user = find_for_login(session, email)
    if user is None:
        check_password(_dummy_hash(), password)
        return None
    if not check_password(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        _rehash(session, user, password)
    return user


def _rehash(session: Session, user: User, password: str) -> None:
    fresh = hash_password(password)
    # Guarded on the hash just checked: a password changed meanwhile (another request) is
    # not overwritten with a fresh hash of the old one.
    result = session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=fresh)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount == 1:  # type: ignore[attr-defined]
        set_committed_value(user, "password_hash", fresh)


def add_staff(session: Session, email: str, password: str, role: Role = Role.ADMIN) -> User:
    """A new staff login in the session (the caller's use case commits)."""
    if role not in STAFF_ROLES:
        raise Invalid("role", f"Staff are one of: {', '.join(STAFF_ROLES)}.")
    user = User(email=_checked_email(email), password_hash=_new_password_hash(password),
                role=role)  # fmt: skip
    session.add(user)
    return user


def save_staff(
    session: Session, email: str, password: str, role: Role | None = None
) -> tuple[User, bool]:
    """Create a staff login (role admin unless given), or reset an existing one's password
    (and role, when given); commits. Answers the user and whether it was created."""
    if role is not None and role not in STAFF_ROLES:
        raise Invalid("role", f"Staff are one of: {', '.join(STAFF_ROLES)}.")
    email = _checked_email(email)
    user = find_for_login(session, email)
    if user is None:
        user = add_staff(session, email, password, role or Role.ADMIN)
        created = True
    elif not user.is_staff:
        raise Conflict(f"{email} is a partner's login.")
    else:
        set_password(user, password)
        if role is not None:
            user.role = role
        created = False
    session.commit()
    return user, created


def add_partner_login(session: Session, partner: Partner, password: str) -> User:
    """A cabinet login for `partner`, with the partner's email, in the session (the caller's
    use case commits)."""
    user = User(email=partner.email, password_hash=_new_password_hash(password),
                role=Role.PARTNER, partner=partner)  # fmt: skip
    session.add(user)
    return user


def set_password(user: User, password: str) -> None:
    """Give `user` a new password and a new session token, which ends every session made
    before (the caller's use case commits; a page that keeps its user logged in logs them in
    again afterwards)."""
    user.password_hash = _new_password_hash(password)
    user.session_token = new_session_token()


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user changes their own password, proving the current one; commits."""
    if not check_password(user.password_hash, current):
        raise Invalid("current_password", "This is not your current password.")
    set_password(user, new)
    session.commit()
