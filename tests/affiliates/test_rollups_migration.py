"""Migration 0012 on a database that already has clicks: they are left to the first rollup."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from affiliates import migrate
from affiliates.database import make_engine, normalise_url
from affiliates.models import Click, ClickRollup, Link, Offer, Partner
from affiliates.services import rollups
from affiliates.services import stats as stats_service
from tests.helpers import T0

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def empty_database(tmp_path) -> Iterator[str]:
    """A database of its own: a SQLite file, or a schema of the test PostgreSQL database."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = normalise_url(url)
    schema = f"migration_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_the_migration_upgrades_a_database_with_clicks_and_the_first_run_rolls_them_up(
    empty_database,
):
    url = empty_database
    migrate.upgrade(url, "0011")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            partner = conn.execute(
                insert(Partner).values(name="P", email="p@example.com", ref_code="p",
                                       status="active").returning(Partner.id)
            ).scalar_one()  # fmt: skip
            offer = conn.execute(
                insert(Offer)
                .values(name="Shop", slug="shop", destination_url="https://shop.example.com/",
                        allowed_domains=["shop.example.com"], currency="RUB",
                        attribution_window_days=30, hold_days=30,
                        min_click_to_conversion_seconds=10,
                        attribution_priority=["promo_code", "click", "utm", "customer"],
                        status="active")
                .returning(Offer.id)
            ).scalar_one()  # fmt: skip
            link = conn.execute(
                insert(Link).values(code="old", partner_id=partner, offer_id=offer,
                                    destination_url="https://shop.example.com/")
                .returning(Link.id)
            ).scalar_one()  # fmt: skip
            for n, (hours, visitor) in enumerate([(0, "a"), (1, "a"), (2, "b"), (30, "a")]):
                # the columns of 0010: unique_click does not exist yet
                conn.execute(
                    insert(Click).values(
                        id=f"old{n}", link_id=link, partner_id=partner, offer_id=offer,
                        created_at=T0 + hours * HOUR, ip_hash=visitor, visitor_key=visitor,
                        user_agent="", referer="", is_bot=False, attributable=True,
                    )
                )  # fmt: skip
        migrate.upgrade(url, "head")
        engine.dispose()
        assert migrate.schema_drift(engine) == []
        with Session(engine) as session:
            unmarked = select(func.count()).where(Click.unique_click.is_(None))
            assert session.scalar(unmarked) == 4
            before = stats_service.stats(session, group_by="day")
            assert before["totals"]["unique_clicks"] == 3
            assert rollups.roll_up(session, T0 + 40 * HOUR) == rollups.Run(4)
            assert session.scalar(unmarked) == 0
            assert session.scalar(select(func.sum(ClickRollup.unique_clicks))) == 3
            assert stats_service.stats(session, group_by="day") == before
        migrate.downgrade(url, "0011")
        engine.dispose()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM clicks")).scalar() == 4
    finally:
        engine.dispose()
