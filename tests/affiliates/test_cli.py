"""The `affiliates` console script: migrations, logins, API keys and the demo program."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from affiliates import migrate
from affiliates.database import make_engine
from affiliates.extensions import db
from affiliates.models import (
    ApiKey,
    AuditEntry,
    Click,
    Conversion,
    LedgerEntry,
    Link,
    Offer,
    Partner,
    Payout,
    PayoutDetails,
    PromoCode,
    User,
)
from affiliates.services import ledger
from affiliates.services.accounts import check_password
from tests.conftest import bearer

KEY = re.compile(r"aff_[0-9a-f]{12}_[A-Za-z0-9_-]{32,}")


def run(runner, *args):
    result = runner.invoke(args=list(args))
    return result


# Migrations ------------------------------------------------------------------------------


def test_db_upgrade_brings_the_database_to_head(runner):
    result = run(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "Database is at head." in result.output


def test_db_check_passes_on_the_migrated_database(runner):
    result = run(runner, "db", "check")
    assert result.exit_code == 0, result.output
    assert "Models and migrations agree." in result.output


def test_models_and_migrations_agree(database_url):
    assert migrate.schema_drift(db.engine) == []


@pytest.fixture
def fresh_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def test_downgrade_to_base_then_upgrade_to_head_on_a_fresh_sqlite_file(fresh_sqlite):
    url, engine = fresh_sqlite
    migrate.upgrade(url)
    tables = set(inspect(engine).get_table_names())
    assert {"offers", "partners", "links", "clicks", "promo_codes", "api_keys", "users"} <= tables
    migrate.downgrade(url, "base")
    engine.dispose()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(url, "head")
    engine.dispose()
    assert set(inspect(engine).get_table_names()) == tables
    assert migrate.schema_drift(engine) == []


def test_payout_details_migrate_down_and_up_keeping_payouts(fresh_sqlite):
    url, engine = fresh_sqlite
    migrate.upgrade(url)
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
                "INSERT INTO payouts (partner_id, currency, amount, status, created_at, "
                "method, details) VALUES (1, 'RUB', 1000, 'pending', "
                "'2026-03-10 12:00:00', 'card', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO payout_details (partner_id, method, holder_name, "
                "card_number, created_at, updated_at) VALUES (1, 'card', 'P', "
                "'4111111111111111', '2026-03-10 12:00:00', '2026-03-10 12:00:00')"
            )
        )
    migrate.downgrade(url, "0004")
    engine.dispose()
    assert "payout_details" not in inspect(engine).get_table_names()
    assert "method" not in {c["name"] for c in inspect(engine).get_columns("payouts")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT amount, status FROM payouts")).all() == [(1000, "pending")]
    migrate.upgrade(url, "head")
    engine.dispose()
    assert migrate.schema_drift(engine) == []
    with engine.connect() as conn:  # the checks survive the table's rebuild
        for sql in ("UPDATE payouts SET method = 'cash'", "UPDATE payouts SET amount = 0"):
            with pytest.raises(IntegrityError):
                conn.execute(text(sql))
            conn.rollback()


def test_schema_drift_notices_a_difference(fresh_sqlite):
    url, engine = fresh_sqlite
    migrate.upgrade(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE INDEX ix_stray_clicks_referer ON clicks (referer)"))
    drift = migrate.schema_drift(engine)
    assert any("stray" in str(diff) for diff in drift)
    assert len(drift) >= 2


# Logins ----------------------------------------------------------------------------------


def test_create_admin_makes_a_staff_login_with_a_hashed_password(runner, session):
    result = run(runner, "create-admin", " Boss@Example.com ", "--password", "correct horse")
    assert result.exit_code == 0, result.output
    assert "Created admin boss@example.com." in result.output
    user = session.scalar(select(User).where(User.email == "boss@example.com"))
    assert user.role == "admin" and user.partner_id is None
    assert "correct horse" not in user.password_hash
    assert check_password(user.password_hash, "correct horse")


def test_create_admin_again_resets_the_password(runner, session):
    run(runner, "create-admin", "boss@example.com", "--password", "first-password")
    result = run(runner, "create-admin", "boss@example.com", "--password", "second-password")
    assert result.exit_code == 0 and "Updated admin" in result.output
    session.expire_all()
    users = session.scalars(select(User)).all()
    assert len(users) == 1
    assert check_password(users[0].password_hash, "second-password")
    assert not check_password(users[0].password_hash, "first-password")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("boss@example.com", "short", "At least 8 characters."),
        ("boss@example.com", "", "At least 8 characters."),
        ("not-an-email", "long enough", "Not an email address."),
    ],
)
def test_create_admin_refuses_bad_input(runner, session, email, password, message):
    result = run(runner, "create-admin", email, "--password", password)
    assert result.exit_code == 2
    assert message in result.output
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_create_admin_needs_a_password(runner, session):
    result = run(runner, "create-admin", "boss@example.com")
    assert result.exit_code == 2
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_create_admin_will_not_turn_a_partner_login_into_staff(runner, session):
    from affiliates.services import program

    program.create_partner(session, "Anna", "anna@example.com", "partner-pass")
    result = run(runner, "create-admin", "anna@example.com", "--password", "long enough")
    assert result.exit_code == 1
    assert "partner" in result.output
    user = session.scalar(select(User).where(User.email == "anna@example.com"))
    assert user.role == "partner"


# API keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["admin", "conversions"])
def test_create_api_key_prints_the_key_alone_on_its_last_line_and_stores_only_a_hash(
    runner, session, scope
):
    result = run(runner, "create-api-key", "--scope", scope, "--name", "ci")
    assert result.exit_code == 0, result.output
    key = result.output.rstrip("\n").splitlines()[-1]
    assert KEY.fullmatch(key), key
    stored = session.scalars(select(ApiKey)).all()
    assert len(stored) == 1
    assert (stored[0].scope, stored[0].name, stored[0].partner_id) == (scope, "ci", None)
    assert stored[0].key_hash == hashlib.sha256(key.encode()).hexdigest()
    secret = key.split("_", 2)[2]
    for row in session.execute(text("SELECT * FROM api_keys")):
        for value in row:
            assert key not in str(value) and secret not in str(value)


def test_an_admin_key_from_the_cli_works_against_the_api(runner, client):
    key = run(runner, "create-api-key", "--scope", "admin").output.splitlines()[-1]
    response = client.get("/api/v1/stats", headers=bearer(key))
    assert response.status_code == 200
    assert client.get("/api/v1/offers", headers=bearer(key)).status_code == 200
    wrong = key[:-1] + ("x" if key[-1] != "x" else "y")  # one in 64 keys ends in "x" already
    assert client.get("/api/v1/stats", headers=bearer(wrong)).status_code == 401


def test_a_conversions_key_from_the_cli_is_limited_to_its_scope(runner, client):
    key = run(runner, "create-api-key", "--scope", "conversions").output.splitlines()[-1]
    assert client.get("/api/v1/offers", headers=bearer(key)).status_code == 403
    assert client.get("/api/v1/promo-codes/NOPE", headers=bearer(key)).status_code == 200


def test_each_key_is_new(runner, session):
    first = run(runner, "create-api-key", "--scope", "admin").output.splitlines()[-1]
    second = run(runner, "create-api-key", "--scope", "admin").output.splitlines()[-1]
    assert first != second
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 2


@pytest.mark.parametrize("args", [[], ["--scope", "partner"], ["--scope", "root"]])
def test_create_api_key_refuses_a_missing_or_unknown_scope(runner, session, args):
    result = run(runner, "create-api-key", *args)
    assert result.exit_code == 2
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


# The demo program ------------------------------------------------------------------------


def _census(session):
    session.expire_all()
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Offer, Partner, Link, Click, User, PromoCode, ApiKey, Conversion,
                      LedgerEntry, PayoutDetails, Payout, AuditEntry)
    } | {
        "paid": session.scalars(select(Payout.reference).where(Payout.status == "paid")).all(),
        "owed": sorted(session.execute(select(LedgerEntry.partner_id, LedgerEntry.amount,
                                              LedgerEntry.payout_id)).all()),
    }  # fmt: skip


def test_demo_is_idempotent_and_prints_its_logins_and_key(runner, session, client):
    first = run(runner, "demo")
    assert first.exit_code == 0, first.output
    loaded = _census(session)
    assert loaded["Offer"] == 1 and loaded["Partner"] == 3 and loaded["User"] == 3
    assert loaded["Link"] >= 3 and loaded["Click"] > 1000 and loaded["ApiKey"] == 1
    second = run(runner, "demo")
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _census(session) == loaded
    for result in (first, second):
        lines = result.output.rstrip("\n").splitlines()
        admin = [line for line in lines if "Admin login" in line]
        partners = [line for line in lines if "Partner login" in line]
        assert len(admin) == 1 and len(partners) == 2
        for line in admin + partners:
            email, password = line.split(":", 1)[1].strip().split(" / ")
            user = session.scalar(select(User).where(User.email == email))
            assert user is not None and check_password(user.password_hash, password)
        assert KEY.fullmatch(lines[-1]), lines[-1]
    assert first.output.splitlines()[-1] == second.output.splitlines()[-1]
    key = first.output.splitlines()[-1]
    stats = client.get("/api/v1/stats", headers=bearer(key))
    assert stats.status_code == 200
    totals = stats.get_json()["totals"]
    assert totals["clicks"] > 0 and totals["bot_clicks"] > 0
    assert 0 < totals["unique_clicks"] <= totals["clicks"]


def test_demo_tracked_link_redirects(runner, client):
    output = run(runner, "demo").output
    url = re.search(r"A tracked link: (\S+)", output).group(1)
    assert url.startswith("https://go.example.com/r/")
    response = client.get(url.removeprefix("https://go.example.com"),
                          headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://shop.romashka.example/")


def test_demo_partners_have_one_payout_method_each(runner, session):
    run(runner, "demo")
    methods = session.scalars(select(PayoutDetails.method).order_by(PayoutDetails.method)).all()
    assert methods == ["bank_transfer", "card", "sbp"]


def test_demo_payouts_are_paid_and_pending_and_agree_with_the_ledger(runner, session, client):
    output = run(runner, "demo").output
    assert "Payouts:        2 paid, 1 pending" in output
    payouts = session.scalars(select(Payout).order_by(Payout.id)).all()
    paid = [p for p in payouts if p.status == "paid"]
    pending = [p for p in payouts if p.status == "pending"]
    assert paid and pending
    assert all(p.reference and p.paid_at for p in paid)
    for payout in payouts:
        claimed = session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.payout_id == payout.id)
        ).all()
        assert payout.amount == sum(claimed) > 0  # to the kopeck
        assert payout.method is not None and payout.details  # a snapshot of the details
        details = session.scalar(
            select(PayoutDetails).where(PayoutDetails.partner_id == payout.partner_id)
        )
        assert payout.method == details.method
    for partner in session.scalars(select(Partner)):
        figures = ledger.balances(session, partner.id).get("RUB")
        if figures is None:
            continue
        mine = [p for p in payouts if p.partner_id == partner.id]
        assert figures["paid"] == sum(p.amount for p in mine if p.status == "paid")
        assert figures["in_payout"] == sum(p.amount for p in mine if p.status == "pending")
    # what the stats call paid is what the payouts paid
    key = output.splitlines()[-1]
    totals = client.get("/api/v1/stats", headers=bearer(key)).get_json()["totals"]
    assert totals["commission_paid"] == f"{sum(p.amount for p in paid):.2f}"


def test_a_demo_loaded_before_payout_details_gets_them_once(runner, session):
    run(runner, "demo")
    # the state of a demo loaded before payout details existed
    with db.engine.begin() as conn:
        conn.execute(LedgerEntry.__table__.update().values(payout_id=None))
        conn.execute(Payout.__table__.delete())
        conn.execute(PayoutDetails.__table__.delete())
    first = run(runner, "demo")
    assert first.exit_code == 0, first.output
    assert "payout details and payouts added" in first.output
    loaded = _census(session)
    assert loaded["PayoutDetails"] == 3 and loaded["Payout"] == 3
    second = run(runner, "demo")
    assert "nothing changed" in second.output
    assert _census(session) == loaded
