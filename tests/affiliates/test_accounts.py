"""Accounts: staff and partner logins, argon2id passwords, session tokens, create-admin."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from affiliates import migrate
from affiliates.database import make_engine
from affiliates.exceptions import Conflict, Invalid
from affiliates.models import User
from affiliates.models.accounts import Role
from affiliates.services import accounts, program
from tests.factories import PartnerFactory

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts its verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash, password):  # noqa: A002 - the library's own parameter name
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def cheap_hashing(monkeypatch):
    """Cheap argon2id parameters (the real ones take a good part of a second per hash)."""
    hasher = CountingHasher()
    monkeypatch.setattr(accounts, "_hasher", hasher)
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: hasher.hash("no such user"))
    return hasher


def staff(session, email="boss@example.com", role=Role.ADMIN):
    user = accounts.add_staff(session, email, "correct horse", role)
    session.commit()
    return user


# Passwords --------------------------------------------------------------------------------


def test_a_password_is_stored_as_an_argon2id_hash_with_the_recommended_parameters(session):
    user = staff(session)
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in user.password_hash
    assert accounts.check_password(user.password_hash, "correct horse")


def test_the_right_password_authenticates_whatever_the_email_case(session, cheap_hashing):
    user = staff(session)
    assert accounts.authenticate(session, "  BOSS@Example.com ", "correct horse") is user


def test_a_wrong_password_does_not_authenticate(session, cheap_hashing):
    staff(session)
    assert accounts.authenticate(session, "boss@example.com", "wrong horse") is None


def test_an_unknown_email_costs_one_hash_check_like_a_wrong_password(session, cheap_hashing):
    staff(session)
    assert accounts.authenticate(session, "nobody@example.com", "correct horse") is None
    assert cheap_hashing.verified == 1
    assert accounts.authenticate(session, "boss@example.com", "wrong horse") is None
    assert cheap_hashing.verified == 2


def test_a_hash_with_outdated_parameters_is_redone_at_login(session):
    user = staff(session)
    user.password_hash = CHEAP.hash("correct horse")
    token = user.session_token
    session.commit()
    assert accounts.authenticate(session, "boss@example.com", "correct horse") is user
    session.expire_all()
    stored = session.get(User, user.id)
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert accounts.check_password(stored.password_hash, "correct horse")
    assert stored.session_token == token  # the same password: the sessions go on


def test_a_rehash_does_not_overwrite_a_password_changed_meanwhile(session, cheap_hashing):
    user = staff(session)
    outdated = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("correct horse")
    user.password_hash = outdated
    session.commit()
    # another request changes the password after this login read the old hash
    session.execute(
        text("UPDATE users SET password_hash = :h WHERE id = :id"),
        {"h": cheap_hashing.hash("brand new password"), "id": user.id},
    )
    accounts._rehash(session, user, "correct horse")
    session.expire_all()
    assert accounts.check_password(session.get(User, user.id).password_hash, "brand new password")


def test_a_new_password_gives_a_new_session_token(session, cheap_hashing):
    user = staff(session)
    token = user.session_token
    accounts.change_password(session, user, "correct horse", "battery staple")
    session.expire_all()
    stored = session.get(User, user.id)
    assert stored.session_token != token
    assert accounts.check_password(stored.password_hash, "battery staple")


def test_changing_a_password_needs_the_current_one(session, cheap_hashing):
    user = staff(session)
    with pytest.raises(Invalid) as raised:
        accounts.change_password(session, user, "not it", "battery staple")
    assert raised.value.errors[0]["field"] == "current_password"


def test_a_password_needs_eight_characters(session, cheap_hashing):
    with pytest.raises(Invalid) as raised:
        accounts.add_staff(session, "boss@example.com", "short")
    assert raised.value.errors == [{"field": "password", "message": "At least 8 characters."}]


# Staff and partner logins -----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST])
def test_staff_are_admins_or_analysts_and_always_active(session, cheap_hashing, role):
    user = staff(session, role=role)
    assert user.role == role and user.partner_id is None
    assert user.is_staff and user.is_active and user.is_authenticated and not user.is_anonymous


def test_staff_cannot_have_the_partner_role(session, cheap_hashing):
    with pytest.raises(Invalid):
        accounts.add_staff(session, "boss@example.com", "correct horse", Role.PARTNER)


def test_save_staff_resets_the_password_and_keeps_the_role_unless_given(session, cheap_hashing):
    first, created = accounts.save_staff(session, "a@example.com", "first password", Role.ANALYST)
    assert created and first.role == "analyst"
    again, created = accounts.save_staff(session, "A@example.com", "second password")
    assert again is first and not created and again.role == "analyst"
    assert accounts.check_password(again.password_hash, "second password")
    promoted, _ = accounts.save_staff(session, "a@example.com", "third password", Role.ADMIN)
    assert promoted.role == "admin"
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_save_staff_will_not_touch_a_partners_login(session, cheap_hashing):
    program.create_partner(session, "Anna", "anna@example.com", "partner pass")
    with pytest.raises(Conflict):
        accounts.save_staff(session, "anna@example.com", "staff password")


def test_a_partner_login_is_bound_to_its_partner(session, cheap_hashing):
    partner = program.create_partner(session, "Anna", "Anna@Example.com", "partner pass")
    user = accounts.find_for_login(session, "anna@example.com")
    assert user.role == "partner" and user.partner_id == partner.id
    assert not user.is_staff and user.get_id() == user.session_token


@pytest.mark.parametrize(
    ("status", "active"),
    [("active", True), ("pending", True), ("suspended", False), ("rejected", False)],
)
def test_a_partner_users_is_active_follows_the_partners_status(
    session, cheap_hashing, status, active
):
    partner = program.create_partner(session, "Anna", "anna@example.com", "partner pass")
    partner.status = status
    session.commit()
    user = accounts.find_for_login(session, "anna@example.com")
    assert user.is_active is active
    assert (accounts.load_user(session, user.session_token) is not None) is active


def test_a_suspended_partners_session_stops_at_once(session, cheap_hashing):
    partner = program.create_partner(session, "Anna", "anna@example.com", "partner pass")
    token = accounts.find_for_login(session, "anna@example.com").session_token
    assert accounts.load_user(session, token) is not None
    program.update_partner(session, partner.id, {"status": "suspended"})
    session.expire_all()
    assert accounts.load_user(session, token) is None


def test_an_admin_setting_a_partners_password_ends_its_sessions(session, cheap_hashing):
    partner = program.create_partner(session, "Anna", "anna@example.com", "partner pass")
    token = accounts.find_for_login(session, "anna@example.com").session_token
    program.update_partner(session, partner.id, {"password": "new partner pass"})
    assert accounts.load_user(session, token) is None
    user = accounts.authenticate(session, "anna@example.com", "new partner pass")
    assert user is not None and accounts.load_user(session, user.session_token) is user


@pytest.mark.parametrize("token", ["", "x" * 65, "not-a-token"])
def test_an_unknown_session_token_loads_no_user(session, token):
    PartnerFactory()
    assert accounts.load_user(session, token) is None


def test_the_user_loader_reads_the_user_and_its_partners_status_in_one_query(
    session, cheap_hashing, app
):
    from sqlalchemy import event

    from affiliates.extensions import db

    program.create_partner(session, "Anna", "anna@example.com", "partner pass")
    token = accounts.find_for_login(session, "anna@example.com").session_token
    session.expunge_all()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        user = accounts.load_user(session, token)
        assert user.is_active and user.partner.name == "Anna"
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 1


def test_the_database_refuses_an_unknown_role_and_a_partner_login_without_partner(session):
    with pytest.raises(IntegrityError):
        session.add(User(email="x@example.com", password_hash="x", role="boss"))
        session.commit()
    session.rollback()
    with pytest.raises(IntegrityError):
        session.add(User(email="y@example.com", password_hash="x", role="partner"))
        session.commit()
    session.rollback()


# The create-admin command -----------------------------------------------------------------


def test_create_admin_with_role_analyst_makes_an_analyst(runner, session, cheap_hashing):
    result = runner.invoke(
        args=["create-admin", "eve@example.com", "--password", "long enough", "--role", "analyst"]
    )
    assert result.exit_code == 0, result.output
    assert "Created analyst eve@example.com." in result.output
    user = session.scalar(select(User).where(User.email == "eve@example.com"))
    assert user.role == "analyst" and accounts.check_password(user.password_hash, "long enough")


def test_create_admin_again_keeps_the_role_unless_given(runner, session, cheap_hashing):
    args = ["create-admin", "eve@example.com", "--password"]
    runner.invoke(args=[*args, "long enough", "--role", "analyst"])
    result = runner.invoke(args=[*args, "longer still"])
    assert "Updated analyst eve@example.com." in result.output
    result = runner.invoke(args=[*args, "longest yet!", "--role", "admin"])
    assert "Updated admin eve@example.com." in result.output
    session.expire_all()
    assert session.scalars(select(User.role)).all() == ["admin"]


def test_create_admin_refuses_an_unknown_role(runner, session):
    result = runner.invoke(
        args=["create-admin", "eve@example.com", "--password", "long enough", "--role", "boss"]
    )
    assert result.exit_code == 2
    assert session.scalar(select(func.count()).select_from(User)) == 0


# The migration ----------------------------------------------------------------------------


def test_migrating_gives_each_existing_login_its_own_session_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'logins.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(url, "0006")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO partners (id, name, email, ref_code, status, created_at, "
                    "updated_at) VALUES (1, 'P', 'p@example.com', 'p', 'active', "
                    "'2026-03-10 12:00:00', '2026-03-10 12:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, role, partner_id, created_at) "
                    "VALUES ('a@example.com', 'h', 'admin', NULL, '2026-03-10 12:00:00'), "
                    "('p@example.com', 'h', 'partner', 1, '2026-03-10 12:00:00')"
                )
            )
        migrate.upgrade(url, "head")
        engine.dispose()
        with engine.connect() as conn:
            tokens = conn.execute(text("SELECT session_token FROM users")).scalars().all()
        assert len(tokens) == len(set(tokens)) == 2 and all(len(t) >= 43 for t in tokens)
        assert migrate.schema_drift(engine) == []
        migrate.downgrade(url, "0006")
        engine.dispose()
        assert "session_token" not in {c["name"] for c in inspect(engine).get_columns("users")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 2
    finally:
        engine.dispose()
