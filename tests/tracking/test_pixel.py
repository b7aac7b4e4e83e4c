"""GET /p/conversion.gif: records a conversion for the click cookie, always answers a GIF."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from affiliates.models import AuditEntry, Conversion
from tests.factories import LinkFactory, OfferFactory, PromoCodeFactory
from tracking.views import PIXEL

BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36"
}
pytestmark = pytest.mark.usefixtures("clock")


def assert_gif(response) -> None:
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    assert response.data == PIXEL
    assert len(response.data) == 43
    assert response.data.startswith(b"GIF89a")
    assert "no-store" in response.headers["Cache-Control"]


def conversions(session) -> list[Conversion]:
    session.expire_all()
    return list(session.scalars(select(Conversion).order_by(Conversion.id)))


def visit(client, clock, link) -> str:
    """The visitor follows the partner's link (the redirector sets the cookie) and shops."""
    response = client.get(f"/r/{link.code}", headers=BROWSER)
    assert response.status_code == 302
    clock.now += dt.timedelta(minutes=5)
    return parse_qs(urlsplit(response.headers["Location"]).query)["aff_click_id"][0]


def test_an_offer_that_trusts_its_pixel_records_a_conversion_attributed_by_the_click_cookie(
    client, session, clock
):
    link = LinkFactory(offer__pixel="on")
    click_id = visit(client, clock, link)
    assert client.get_cookie("aff_click_id").value == click_id
    response = client.get(
        "/p/conversion.gif",
        query_string={"offer_id": link.offer_id, "order_id": "P-1", "amount": "1499.00"},
    )
    assert_gif(response)
    (conversion,) = conversions(session)
    assert (conversion.source, conversion.attribution, conversion.partner_id) == (
        "pixel", "click", link.partner_id)  # fmt: skip
    assert (conversion.order_id, f"{conversion.amount}", conversion.click_id) == (
        "P-1", "1499.00", click_id)  # fmt: skip
    assert conversion.status == "pending" and conversion.flags == []
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor) == ("created", "pixel")


def test_a_cookie_set_by_hand_is_used_like_the_redirectors(client, session, clock):
    link = LinkFactory()
    click_id = visit(client, clock, link)
    other = client.application.test_client()
    other.set_cookie("aff_click_id", click_id)
    assert_gif(other.get(f"/p/conversion.gif?offer_id={link.offer_id}&order_id=P-9&amount=10"))
    assert conversions(session)[0].partner_id == link.partner_id


def test_reloading_the_thank_you_page_records_the_order_once(client, session, clock):
    link = LinkFactory()
    visit(client, clock, link)
    url = f"/p/conversion.gif?offer_id={link.offer_id}&order_id=P-1&amount=100.00"
    for _ in range(3):
        assert_gif(client.get(url))
    assert len(conversions(session)) == 1
    # a reload with another amount is a conflict: still a GIF, nothing changes
    assert_gif(client.get(url.replace("100.00", "999.00")))
    assert [f"{c.amount}" for c in conversions(session)] == ["100.00"]


def test_without_a_cookie_the_pixel_records_an_organic_conversion(client, session):
    offer = OfferFactory()
    assert_gif(client.get(f"/p/conversion.gif?offer_id={offer.id}&order_id=P-1&amount=5"))
    (conversion,) = conversions(session)
    assert (conversion.source, conversion.partner_id, conversion.attribution) == (
        "pixel", None, None)  # fmt: skip


def test_a_promo_code_on_the_pixel_attributes_the_sale(client, session):
    code = PromoCodeFactory(code="PIX10")
    query = {"offer_id": code.offer_id, "order_id": "P-1", "amount": "50.00", "promo_code": "pix10"}
    response = client.get("/p/conversion.gif", query_string=query)
    assert_gif(response)
    (conversion,) = conversions(session)
    assert (conversion.attribution, conversion.partner_id) == ("promo_code", code.partner_id)


def test_a_lead_pixel_needs_no_amount(client, session):
    offer = OfferFactory()
    assert_gif(client.get(f"/p/conversion.gif?offer_id={offer.id}&order_id=L-1&type=lead"))
    assert [c.type for c in conversions(session)] == ["lead"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "offer_id=abc&order_id=1&amount=1",
        "offer_id=1",
        "offer_id=999999&order_id=1&amount=1",
        "offer_id={offer}&order_id=1",
        "offer_id={offer}&order_id=1&amount=-5",
        "offer_id={offer}&order_id=1&amount=NaN",
        "offer_id={offer}&order_id=1&amount=1e400",
        "offer_id={offer}&order_id=1&amount=1&currency=ZZZ",
        "offer_id={offer}&order_id=1&amount=1&currency=USD",
        "offer_id={offer}&order_id=1&amount=1&type=refund",
        "offer_id={offer}&order_id=%00%ff&amount=1",
        "offer_id={offer}&order_id=" + "x" * 5000 + "&amount=1",
        "offer_id[]=1&&&==&%zz",
    ],
)
def test_the_pixel_answers_a_gif_to_garbage_and_records_nothing(client, session, query):
    offer = OfferFactory()
    client.set_cookie("aff_click_id", "garbage\x7f" * 20)
    assert_gif(client.get("/p/conversion.gif?" + query.format(offer=offer.id)))
    assert conversions(session) == []


def test_the_pixel_answers_a_gif_with_no_parameters_and_no_cookie(client, session):
    assert_gif(client.get("/p/conversion.gif"))
    assert conversions(session) == []


def test_a_garbage_cookie_gives_an_organic_conversion_not_an_error(client, session):
    offer = OfferFactory()
    client.set_cookie("aff_click_id", "x" * 300)
    assert_gif(client.get(f"/p/conversion.gif?offer_id={offer.id}&order_id=P-1&amount=1"))
    (conversion,) = conversions(session)
    assert conversion.partner_id is None
