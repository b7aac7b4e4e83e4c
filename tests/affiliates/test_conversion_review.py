"""Staff review races and the lead-then-sale funnel."""

from __future__ import annotations

import threading

from sqlalchemy import select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion
from tests.factories import LinkFactory, OfferFactory
from tests.helpers import sale


def test_racing_approve_and_reject_leave_one_consistent_outcome(app, client, admin_headers):
    conversion = sale(client, admin_headers, OfferFactory(), "R-1", "100.00")
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def review(action: str) -> None:
        own = app.test_client()
        body = {"reason": "duplicate order"} if action == "reject" else {}
        try:
            barrier.wait(timeout=30)
            url = f"/api/v1/conversions/{conversion['id']}/{action}"
            answers[action] = own.post(url, json=body, headers=admin_headers).status_code
        finally:
            db.remove()

    threads = [threading.Thread(target=review, args=(a,)) for a in ("approve", "reject")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    session = db.session
    session.expire_all()
    final = session.get_one(Conversion, conversion["id"]).status
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_id == conversion["id"], AuditEntry.action != "created")
            .order_by(AuditEntry.id)
        )
    )
    # every entry starts where the previous one ended: no two reviews from the same 'before'
    befores = [entry.before["status"] for entry in entries]
    afters = [entry.after["status"] for entry in entries]
    assert befores[0] == "pending"
    assert befores[1:] == afters[:-1]
    assert afters[-1] == final
    assert set(answers.values()) <= {200, 409}


def test_a_sale_after_a_lead_through_the_same_click_is_not_a_reused_click(client, admin_headers):
    offer = OfferFactory(min_click_to_conversion_seconds=0)
    link = LinkFactory(offer=offer)
    location = client.get(
        f"/r/{link.code}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Chrome/131.0"}
    ).headers["Location"]
    click_id = location.rsplit("aff_click_id=", 1)[1]
    lead = sale(client, admin_headers, offer, "L-1", "0.00", type="lead", click_id=click_id)
    assert lead["attribution"] == "click"
    assert "click_reused" not in lead["flags"]
    first = sale(client, admin_headers, offer, "S-1", "900.00", click_id=click_id)
    assert "click_reused" not in first["flags"]
    second = sale(client, admin_headers, offer, "S-2", "900.00", click_id=click_id)
    assert "click_reused" in second["flags"]
