"""What many tests share: the pinned clock, clicks written as the click log writes them, and
sales posted to the API. The `clock` fixture in conftest.py pins a `Clock` to `T0`."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from affiliates.extensions import db
from affiliates.models import Click, Link, Offer, Partner

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BOT_AGENT = "Googlebot/2.1"
_click_ids = itertools.count()


class Clock:
    """The clock services read (app.extensions['clock']): pinned, and moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def iso(at: dt.datetime) -> str:
    """`at` as the API writes a UTC timestamp."""
    return at.isoformat().replace("+00:00", "Z")


def add_clicks(
    session: Session,
    link: Link,
    *times: dt.datetime,
    visitor: Any = "v1",
    bot: bool = False,
    attributable: bool = True,
    **columns: Any,
) -> list[str]:
    """Clicks on `link` at `times` by one visitor (its hashed IP and user agent), committed.

    The row is the click log's: the link's UTM tags and sub_id, a browser's user agent (a
    crawler's for a bot), never attributable when a bot. `columns` override any of it.
    """
    rows = [
        {
            "id": f"t{next(_click_ids):020d}",
            "link_id": link.id,
            "partner_id": link.partner_id,
            "offer_id": link.offer_id,
            "created_at": at,
            "ip_hash": f"ip-{visitor}",
            "visitor_key": f"key-{visitor}",
            "user_agent": BOT_AGENT if bot else BROWSER_AGENT,
            "referer": "",
            "utm_source": link.utm_source,
            "utm_medium": link.utm_medium,
            "utm_campaign": link.utm_campaign,
            "utm_content": link.utm_content,
            "utm_term": link.utm_term,
            "sub_id": link.sub_id,
            "params": None,
            "is_bot": bot,
            "attributable": attributable and not bot,
            **columns,
        }
        for at in times
    ]
    session.execute(insert(Click), rows)
    session.commit()
    return [row["id"] for row in rows]


def add_click(session: Session, link: Link, at: dt.datetime, **options: Any) -> str:
    """One click on `link` at `at` (the options of `add_clicks`); its id."""
    (click_id,) = add_clicks(session, link, at, **options)
    return click_id


def sale(
    client: FlaskClient,
    headers: dict[str, str],
    offer: Offer,
    order_id: str = "A-1",
    amount: Any = "1000.00",
    *,
    partner: Partner | None = None,
    occurred_at: dt.datetime | str | None = None,
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    """POST a conversion of `offer` (a sale unless `type` says otherwise); the answer's body.

    `partner` attributes it by the partner's ref code (utm_source); `fields` are any other
    fields of the body; the answer must have the status `expect`.
    """
    body: dict[str, Any] = {"offer_id": offer.id, "type": "sale", "order_id": order_id,
                            "amount": amount}  # fmt: skip
    if partner is not None:
        body["utm_source"] = partner.ref_code
    if isinstance(occurred_at, dt.datetime):
        body["occurred_at"] = iso(occurred_at)
    elif occurred_at is not None:
        body["occurred_at"] = occurred_at
    body.update(fields)
    response = client.post("/api/v1/conversions", json=body, headers=headers)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def post_at_once(app: Any, path: str, bodies: list[Any], headers: dict[str, str]) -> list[Any]:
    """POST every body to `path` at once, one thread (and test client, session, connection)
    each; the (status, JSON) answers in the bodies' order, or the exception a thread met."""
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def worker(index: int, body: Any) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            response = client.post(path, json=body, headers=headers)
            results[index] = (response.status_code, response.get_json())
        except Exception as exc:  # reported by the caller's assertions
            results[index] = exc
        finally:
            db.remove()

    threads = [threading.Thread(target=worker, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results
