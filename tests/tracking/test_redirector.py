"""The redirector: every 302 has its click committed first."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from affiliates.models import Click
from tests.factories import LinkFactory


def test_redirect_appends_utm_and_click_id_and_keeps_destination_query(client, session):
    link = LinkFactory(utm_content="video")
    response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "shop.example.com"
    query = parse_qs(location.query)
    assert query["color"] == ["red"]
    assert query["utm_source"] == [link.utm_source]
    assert query["utm_medium"] == ["affiliate"]
    assert query["utm_content"] == ["video"]
    click_id = query["aff_click_id"][0]
    click = session.get(Click, click_id)
    assert click is not None and click.link_id == link.id
    assert session.scalar(select(func.count()).select_from(Click)) == 1


def test_unknown_code_is_a_friendly_404_without_a_click(client, session):
    response = client.get("/r/doesnotexist")
    assert response.status_code == 404
    assert b"not active" in response.data
    assert session.scalar(select(func.count()).select_from(Click)) == 0
