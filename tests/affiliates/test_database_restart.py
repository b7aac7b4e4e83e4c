"""After a database restart the server reconnects by itself, and a client retrying with the
same order id still gets exactly one conversion.

A restart is what the server sees when PostgreSQL drops every connection it holds; the test
drops them with pg_terminate_backend rather than restarting the cluster the suite runs on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from affiliates.extensions import db
from affiliates.models import Click, Conversion
from affiliates.services.intake_store import IntakeStore
from tests.factories import LinkFactory, OfferFactory, PartnerFactory


def _drop_every_connection(database_url: str) -> int:
    """What a restart does to the server's connections: every one of them is gone."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return int(dropped)


@pytest.fixture
def postgresql(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("a file database does not restart under the server")
    return database_url


def test_after_a_database_restart_the_server_reconnects_and_a_retried_order_is_one_conversion(
    postgresql, client, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory()
    body = {"offer_id": offer.id, "order_id": "R-1", "amount": "990.00",
            "utm_source": partner.ref_code}  # fmt: skip
    first = client.post("/api/v1/conversions", json=body, headers=conversions_headers)
    assert first.status_code == 201
    db.remove()  # the test's own session lets go of its connection, as a request would

    assert _drop_every_connection(postgresql) >= 1

    retried = client.post("/api/v1/conversions", json=body, headers=conversions_headers)
    assert retried.status_code == 200
    assert retried.get_json()["id"] == first.get_json()["id"]
    other = client.post("/api/v1/conversions", json={**body, "order_id": "R-2"},
                        headers=conversions_headers)  # fmt: skip
    assert other.status_code == 201
    count = db.session.scalar(
        select(func.count()).select_from(Conversion).where(Conversion.offer_id == offer.id)
    )
    assert count == 2


def test_after_a_database_restart_the_redirector_reconnects_and_records_the_click(
    postgresql, client
):
    link = LinkFactory()
    assert client.get(f"/r/{link.code}").status_code == 302
    db.remove()

    assert _drop_every_connection(postgresql) >= 1

    assert client.get(f"/r/{link.code}").status_code == 302
    clicks = db.session.scalar(
        select(func.count()).select_from(Click).where(Click.link_id == link.id)
    )
    assert clicks == 2


def test_a_database_that_does_not_answer_is_a_503_problem_with_retry_after(
    client, conversions_headers, monkeypatch
):
    offer = OfferFactory()

    def unreachable(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(IntakeStore, "touches", unreachable)
    response = client.post(
        "/api/v1/conversions",
        json={"offer_id": offer.id, "order_id": "U-1", "amount": "10.00"},
        headers=conversions_headers,
    )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["status"] == 503
