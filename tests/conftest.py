"""Fixtures: an app on a database built with `alembic upgrade head`, emptied after each test.

SQLite by default; with TEST_DATABASE_URL (PostgreSQL) the same suite runs there. Tests
commit for real (the redirector writes through its own connection, as in production), so
instead of a rolled-back outer transaction every table is emptied after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text

from affiliates import create_app, migrate
from affiliates.database import normalise_url
from affiliates.extensions import db
from affiliates.models import Base
from affiliates.services import api_keys, commission_rules
from tests.helpers import T0, Clock


def _database_url(tmp_dir: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_dir / 'test.db'}"
    url = normalise_url(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # a clean schema, whatever an earlier run left
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _database_url(tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    application = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "BASE_URL": "https://go.example.com",
            "WTF_CSRF_ENABLED": True,
        }
    )
    yield application
    application.extensions["clicklog"].close()
    db.engine.dispose()  # type: ignore[union-attr]


@pytest.fixture(autouse=True)
def _clean(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.remove()
    app.extensions["clicklog"].forget()
    api_keys.forget_cached()
    commission_rules.forget_cached()
    with db.engine.begin() as conn:  # type: ignore[union-attr]
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The services' clock pinned to T0; the test moves it with `clock.now = ...`."""
    pinned = Clock(T0)
    monkeypatch.setitem(app.extensions, "clock", pinned)
    return pinned


@pytest.fixture
def session() -> Any:
    return db.session


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return bearer(api_keys.issue(db.session, "admin", name="tests"))


@pytest.fixture
def conversions_headers() -> dict[str, str]:
    return bearer(api_keys.issue(db.session, "conversions", name="tests"))
