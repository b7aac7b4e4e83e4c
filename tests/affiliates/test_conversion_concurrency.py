"""Races: one order is one conversion, and a promo code is used exactly max_uses times.

Each thread posts through its own test client, so each request has its own session and
connection, as under a multi-threaded server; a Barrier starts them together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion, CustomerBinding, PromoCode
from tests.factories import OfferFactory, PartnerFactory, PromoCodeFactory
from tests.helpers import post_at_once, sale

pytestmark = pytest.mark.usefixtures("clock")


def race(app, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list[Any]:
    """POST every body at once, one thread each; the responses in the bodies' order."""
    return post_at_once(app, "/api/v1/conversions", bodies, headers)


def uses(session, code) -> int:
    session.expire_all()
    return session.get_one(PromoCode, code.id).uses


def rows(session, model, *where: Callable[..., Any]) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_twelve_concurrent_copies_of_one_order_make_one_conversion(
    app, session, conversions_headers
):
    offer = OfferFactory()
    partner = PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=partner, code="RACE", max_uses=100)
    body = {"offer_id": offer.id, "order_id": "ORDER-1", "amount": "1499.00",
            "promo_code": "RACE", "customer_id": "cust-1"}  # fmt: skip
    results = race(app, [body] * 12, conversions_headers)
    assert all(isinstance(result, tuple) for result in results), results
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 11 + [201], results
    answers = [answer for _, answer in results]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["partner_id"] == partner.id
    assert rows(session, Conversion) == 1
    assert rows(session, AuditEntry, AuditEntry.action == "created") == 1
    assert rows(session, CustomerBinding) == 1
    assert uses(session, code) == 1  # the losers' uses were rolled back


def test_concurrent_copies_with_another_amount_are_conflicts_not_conversions(
    app, session, conversions_headers
):
    offer = OfferFactory()
    bodies = [
        {"offer_id": offer.id, "order_id": "ORDER-2", "amount": amount}
        for amount in ["100.00"] * 4 + ["999.00"] * 4
    ]
    results = race(app, bodies, conversions_headers)
    assert all(isinstance(result, tuple) for result in results), results
    assert rows(session, Conversion) == 1
    kept = session.scalar(select(Conversion.amount))
    for body, (status, answer) in zip(bodies, results, strict=True):
        if body["amount"] == f"{kept:.2f}":
            assert status in (200, 201)
        else:
            assert status == 409 and answer["errors"][0]["field"] == "amount"
    assert [status for status, _ in results].count(201) == 1


def test_a_promo_code_with_max_uses_n_is_used_exactly_n_times_when_more_orders_race(
    app, session, conversions_headers
):
    offer = OfferFactory()
    owner, fallback = PartnerFactory(), PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=owner, code="FIVE", max_uses=5)
    bodies = [
        {
            "offer_id": offer.id,
            "order_id": f"ORDER-{n}",
            "amount": "100.00",
            "promo_code": "five",
            "utm_source": fallback.ref_code,
        }  # fmt: skip
        for n in range(15)
    ]
    results = race(app, bodies, conversions_headers)
    assert all(isinstance(result, tuple) for result in results), results
    assert [status for status, _ in results] == [201] * 15
    answers = [answer for _, answer in results]
    by_code = [a for a in answers if a["attribution"] == "promo_code"]
    fell_through = [a for a in answers if a["attribution"] != "promo_code"]
    assert len(by_code) == 5
    assert all(a["partner_id"] == owner.id for a in by_code)
    assert all(a["partner_id"] == fallback.id and a["attribution"] == "utm" for a in fell_through)
    assert all(any("exhausted" in line for line in a["explanation"]) for a in fell_through)
    assert uses(session, code) == 5
    assert rows(session, Conversion, Conversion.attribution == "promo_code") == 5
    assert rows(session, Conversion) == 15


def test_racing_partial_refunds_never_refund_more_than_the_amount_nor_lose_one(
    app, session, client, conversions_headers
):
    offer = OfferFactory()
    conversion_id = sale(client, conversions_headers, offer, "R-1", "1000.00")["id"]
    barrier = threading.Barrier(6)
    statuses: list[Any] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            response = app.test_client().post(
                f"/api/v1/conversions/{conversion_id}/refund", json={"amount": "300.00"},
                headers=conversions_headers,
            )  # fmt: skip
            statuses.append(response.status_code)
        except Exception as exc:
            statuses.append(exc)
        finally:
            db.remove()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses, key=str) == [200] * 3 + [422] * 3, statuses
    session.expire_all()
    conversion = session.get_one(Conversion, conversion_id)
    assert f"{conversion.refunded_amount}" == "900.00"
    refunds = rows(session, AuditEntry, AuditEntry.action == "refunded")
    assert refunds == 3


def test_eight_concurrent_postbacks_of_a_pixel_order_confirm_it_once(
    app, client, session, conversions_headers
):
    offer = OfferFactory(pixel="review")
    pixel = client.get("/p/conversion.gif", query_string={
        "offer_id": offer.id, "order_id": "P-1", "amount": "999999.00"})  # fmt: skip
    assert pixel.status_code == 200
    assert rows(session, Conversion, Conversion.pixel_unverified.is_(True)) == 1
    body = {"offer_id": offer.id, "order_id": "P-1", "amount": "1499.00"}
    results = race(app, [body] * 8, conversions_headers)
    assert all(isinstance(result, tuple) for result in results), results
    assert sorted(status for status, _ in results) == [200] * 8, results
    assert {(answer["amount"], tuple(answer["flags"])) for _, answer in results} == {
        ("1499.00", ())}  # fmt: skip
    assert rows(session, AuditEntry, AuditEntry.action == "confirmed") == 1
    assert rows(session, Conversion, Conversion.pixel_unverified.is_(False)) == 1
