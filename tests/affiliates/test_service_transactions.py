"""A service commits only what it started: the intake and authentication leave the
caller's session, and what is pending in it, alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import Conversion, Partner
from affiliates.services import conversions
from tests.factories import OfferFactory, PartnerFactory

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def _in_database(email: str) -> bool:
    """Whether a partner with this email is committed (read on a connection of its own)."""
    with db.engine.connect() as conn:  # type: ignore[union-attr]
        count = conn.scalar(select(func.count()).select_from(Partner).where(Partner.email == email))
    return bool(count)


def _pending_partner(email: str) -> Partner:
    partner = PartnerFactory.build(email=email)
    db.session.add(partner)
    return partner


def test_recording_a_conversion_leaves_the_callers_pending_work_uncommitted():
    offer = OfferFactory()
    db.session.scalar(select(func.count()).select_from(Conversion))  # a transaction begun
    partner = _pending_partner("pending@example.com")
    intake = conversions.record(
        db.engine,  # type: ignore[arg-type]
        {"offer_id": offer.id, "order_id": "T-1", "amount": Decimal("10.00")},
        actor="tests",
        secret="s",
        now=NOW,
    )
    assert intake.created
    assert partner in db.session.new
    assert db.session.in_transaction()  # not committed, nor ended
    assert not _in_database("pending@example.com")
    with db.engine.connect() as conn:  # type: ignore[union-attr]
        assert (
            conn.scalar(select(Conversion.order_id).where(Conversion.id == intake.conversion.id))
            == "T-1"
        )
    db.session.rollback()
    assert not _in_database("pending@example.com")


def test_an_authenticated_request_leaves_the_request_session_uncommitted(
    client, conversions_headers
):
    offer = OfferFactory()
    partner = _pending_partner("before-the-request@example.com")
    response = client.post(
        "/api/v1/conversions",
        json={"offer_id": offer.id, "order_id": "A-1", "amount": "10.00"},
        headers=conversions_headers,
    )
    assert response.status_code == 201
    assert partner in db.session.new
    assert not _in_database("before-the-request@example.com")


def test_a_refused_request_leaves_the_request_session_uncommitted(client, conversions_headers):
    partner = _pending_partner("before-a-403@example.com")
    response = client.get("/api/v1/offers", headers=conversions_headers)
    assert response.status_code == 403
    assert partner in db.session.new
    assert not _in_database("before-a-403@example.com")
