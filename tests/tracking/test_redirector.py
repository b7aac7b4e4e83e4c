"""The redirector: every 302 has its click committed first."""

from __future__ import annotations

import datetime as dt
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from affiliates.models import Click
from tests.apps import another_app
from tests.conftest import bearer
from tests.factories import LinkFactory, PartnerFactory, partner_key
from tracking.visitors import VisitorHasher

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HUMAN = {"User-Agent": BROWSER}


def click_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Click))


def query_of(response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.headers["Location"]).query, keep_blank_values=True)


def click_of(session, response) -> Click:
    click = session.get(Click, query_of(response)["aff_click_id"][0])
    assert click is not None
    return click


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


# The redirect target ---------------------------------------------------------------------


def test_redirect_keeps_path_and_every_destination_parameter_in_order(client):
    link = LinkFactory(destination_url="https://shop.example.com/c/phones?b=2&a=1&empty=&a=3")
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "shop.example.com",
                                                                 "/c/phones")  # fmt: skip
    pairs = [part.split("=", 1) for part in location.query.split("&")]
    assert pairs[:4] == [["b", "2"], ["a", "1"], ["empty", ""], ["a", "3"]]
    assert [key for key, _ in pairs[4:]] == ["utm_source", "utm_medium", "utm_campaign",
                                             "aff_click_id"]  # fmt: skip


def test_link_utm_replaces_the_destinations_own_and_a_planted_click_id_is_dropped(client):
    link = LinkFactory(
        destination_url="https://shop.example.com/?utm_source=old&aff_click_id=planted&x=1"
    )
    query = query_of(client.get(f"/r/{link.code}", headers=HUMAN))
    assert query["utm_source"] == [link.utm_source]
    assert query["x"] == ["1"]
    assert len(query["aff_click_id"]) == 1
    assert query["aff_click_id"] != ["planted"]


def test_fragment_stays_at_the_end_after_the_click_id(client):
    link = LinkFactory(destination_url="https://shop.example.com/item?color=red#reviews")
    location = client.get(f"/r/{link.code}", headers=HUMAN).headers["Location"]
    assert location.endswith("#reviews")
    assert "aff_click_id=" in location.split("#")[0]


def test_empty_link_utm_fields_are_not_added(client):
    link = LinkFactory()
    query = query_of(client.get(f"/r/{link.code}", headers=HUMAN))
    assert "utm_content" not in query and "utm_term" not in query


def test_redirect_is_not_cacheable(client):
    response = client.get(f"/r/{LinkFactory().code}", headers=HUMAN)
    assert "no-store" in response.headers["Cache-Control"]


# The cookie ------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [1, 30, 90])
def test_cookie_holds_the_click_id_for_the_offers_attribution_window(client, days):
    link = LinkFactory(offer__attribution_window_days=days)
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    headers = response.headers.getlist("Set-Cookie")
    assert len(headers) == 1
    cookie = SimpleCookie()
    cookie.load(headers[0])
    morsel = cookie["aff_click_id"]
    assert morsel.value == query_of(response)["aff_click_id"][0]
    assert morsel["max-age"] == str(days * 86_400)
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"


# What the click records ------------------------------------------------------------------


def test_click_records_link_partner_offer_utm_agent_referer_and_the_clocks_time(
    client, session, clock
):
    at = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    clock.now = at
    link = LinkFactory(utm_content="video", utm_term="phones")
    response = client.get(
        f"/r/{link.code}", headers={**HUMAN, "Referer": "https://t.me/channel/12"}
    )
    click = click_of(session, response)
    assert (click.link_id, click.partner_id, click.offer_id) == (
        link.id,
        link.partner_id,
        link.offer_id,
    )
    assert click.created_at == at
    assert click.user_agent == BROWSER
    assert click.referer == "https://t.me/channel/12"
    assert (click.utm_source, click.utm_medium, click.utm_campaign) == (
        link.utm_source,
        "affiliate",
        link.utm_campaign,
    )
    assert (click.utm_content, click.utm_term) == ("video", "phones")
    assert click.sub_id is None and click.params is None
    assert click.is_bot is False and click.attributable is True


def test_utm_on_the_tracked_link_override_the_links_own_and_are_recorded(client, session):
    link = LinkFactory(utm_content="video")
    response = client.get(
        f"/r/{link.code}?utm_campaign=spring-sale&utm_term=shoes&utm_content=", headers=HUMAN
    )
    query = query_of(response)
    assert query["utm_campaign"] == ["spring-sale"]
    assert query["utm_term"] == ["shoes"]
    assert query["utm_content"] == ["video"]  # an empty override does not erase
    assert query["utm_source"] == [link.utm_source]
    assert query["color"] == ["red"]
    click = click_of(session, response)
    assert (click.utm_campaign, click.utm_term, click.utm_content) == (
        "spring-sale",
        "shoes",
        "video",
    )
    assert click.utm_source == link.utm_source
    assert click.params is None  # UTM are columns, not extra parameters


def test_sub_id_and_extra_query_parameters_are_recorded_on_the_click(client, session):
    link = LinkFactory(sub_id="links-own")
    response = client.get(
        f"/r/{link.code}?sub_id=yt-42&placement=header&gclid=Cj0K&lang=ru", headers=HUMAN
    )
    click = click_of(session, response)
    assert click.sub_id == "yt-42"
    assert json.loads(click.params) == {"placement": "header", "gclid": "Cj0K", "lang": "ru"}


def test_the_links_own_sub_id_is_recorded_when_the_visit_brings_none(client, session):
    link = LinkFactory(sub_id="links-own")
    click = click_of(session, client.get(f"/r/{link.code}", headers=HUMAN))
    assert click.sub_id == "links-own"


def test_recorded_parameters_are_bounded(client, session):
    link = LinkFactory()
    many = "&".join(f"{'k' * 300}{i:02d}={'v' * 5000}" for i in range(60))
    response = client.get(
        f"/r/{link.code}?sub_id={'s' * 5000}&utm_campaign={'c' * 5000}&{many}", headers=HUMAN
    )
    assert response.status_code == 302
    click = click_of(session, response)
    params = json.loads(click.params)
    assert 0 < len(params) <= 20
    assert all(len(key) <= 200 and len(value) <= 200 for key, value in params.items())
    assert len(click.sub_id) <= 200
    assert len(click.utm_campaign) <= 200


def test_overlong_headers_are_cut_to_their_columns(client, session):
    link = LinkFactory()
    response = client.get(
        f"/r/{link.code}",
        headers={"User-Agent": BROWSER + "x" * 5000, "Referer": "https://a.example/" + "r" * 5000},
    )
    assert response.status_code == 302
    click = click_of(session, response)
    assert len(click.user_agent) == 512 and len(click.referer) == 1024


@pytest.mark.parametrize(
    "query",
    [
        "sub_id=%00",
        "utm_source=%00evil",
        "x=%00",
        "%00=1",
        "sub_id=%FF%FE",
        "utm_term=%ED%A0%80",
        "sub_id=%F0%9F%98%80&utm_campaign=%D0%B2%D0%B5%D1%81%D0%BD%D0%B0",
        "a=1&a=2&a=3",
        "sub_id=&utm_source=",
        "&&&=&=",
    ],
)
def test_strange_query_parameters_still_redirect_and_record_the_click(client, session, query):
    link = LinkFactory()
    response = client.get(f"/r/{link.code}?{query}", headers=HUMAN)
    assert response.status_code == 302
    click_of(session, response)
    # the same worker thread keeps serving
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302
    assert click_count(session) == 2


def test_user_agent_outside_ascii_is_recorded(client, session):
    link = LinkFactory()
    agent = "Mozilla/5.0 (Linux) Ð¯Ð½Ð´ÐµÐºÑ\x7f"
    response = client.get(f"/r/{link.code}", headers={"User-Agent": agent})
    assert response.status_code == 302
    assert click_of(session, response).user_agent == agent


# Bots, suspended partners, archived links -----------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "",
        "   ",
    ],
)
def test_bots_still_get_the_302_and_their_click_is_flagged_and_unattributable(
    client, session, agent
):
    link = LinkFactory()
    response = client.get(f"/r/{link.code}", headers={"User-Agent": agent})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://shop.example.com/item?")
    click = click_of(session, response)
    assert click.is_bot is True
    assert click.attributable is False


def test_a_browser_is_not_a_bot(client, session):
    link = LinkFactory()
    click = click_of(session, client.get(f"/r/{link.code}", headers=HUMAN))
    assert click.is_bot is False and click.attributable is True


def test_suspended_partners_link_still_redirects_unattributed(client, session):
    link = LinkFactory(partner__status="suspended")
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    assert response.status_code == 302
    click = click_of(session, response)
    assert click.attributable is False and click.is_bot is False


def test_archived_offers_link_still_redirects_unattributed(client, session):
    link = LinkFactory(offer__status="archived")
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    assert response.status_code == 302
    assert click_of(session, response).attributable is False


def test_archived_link_is_a_404_without_a_click_at_once_in_the_same_process(
    client, session, admin_headers
):
    link = LinkFactory()
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302  # now cached
    patched = client.patch(
        f"/api/v1/links/{link.id}", json={"archived": True}, headers=admin_headers
    )
    assert patched.status_code == 200 and patched.get_json()["archived"] is True
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert click_count(session) == 1
    restored = client.patch(
        f"/api/v1/links/{link.id}", json={"archived": False}, headers=admin_headers
    )
    assert restored.status_code == 200
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302
    assert click_count(session) == 2


def test_deleting_a_link_archives_it_and_it_stops_redirecting(client, session, admin_headers):
    link = LinkFactory()
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302
    assert client.delete(f"/api/v1/links/{link.id}", headers=admin_headers).status_code == 200
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 404
    assert click_count(session) == 1


def test_changed_utm_tags_apply_at_once_in_the_same_process(client, session, admin_headers):
    link = LinkFactory()
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302
    client.patch(f"/api/v1/links/{link.id}", json={"utm_campaign": "winter"},
                 headers=admin_headers)  # fmt: skip
    response = client.get(f"/r/{link.code}", headers=HUMAN)
    assert query_of(response)["utm_campaign"] == ["winter"]
    assert click_of(session, response).utm_campaign == "winter"


# Hostile codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/r/../etc",
        "/r/..%2Fetc",
        "/r/..%2F..%2Fetc%2Fpasswd",
        "/r/%2e%2e",
        "/r/" + "a" * 33,
        "/r/" + "a" * 5000,
        "/r/привет",
        "/r/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82",
        "/r/%00",
        "/r/lnk%00",
        "/r/a%20b",
        "/r/%20",
        "/r/a+b",
        "/r/%0A",
        "/r/abc%0A",
        "/r/%FF%FE",
        "/r/%ED%A0%80",
        "/r/'%20OR%201=1--",
        "/r/%25",
        "/r/;",
        "/r/a.b",
        "/r/",
        "/r",
        "/r/a/b",
    ],
)
def test_strange_codes_are_a_404_never_a_5xx(client, session, path):
    LinkFactory()
    response = client.get(path, headers=HUMAN)
    assert response.status_code == 404
    assert click_count(session) == 0


def test_a_real_code_with_a_trailing_newline_or_other_case_does_not_redirect(client, session):
    link = LinkFactory(code="AbCd1234")
    for path in ("/r/AbCd1234%0A", "/r/abcd1234", "/r/ABCD1234", "/r/AbCd1234%20"):
        assert client.get(path, headers=HUMAN).status_code == 404
    assert client.get(f"/r/{link.code}", headers=HUMAN).status_code == 302
    assert click_count(session) == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_without_a_click(client, session, method):
    link = LinkFactory()
    response = client.open(f"/r/{link.code}", method=method, headers=HUMAN)
    assert response.status_code == 405
    assert click_count(session) == 0


def test_head_also_records_the_click(client, session):
    link = LinkFactory()
    response = client.head(f"/r/{link.code}", headers=HUMAN)
    assert response.status_code == 302
    assert click_of(session, response).link_id == link.id
    assert click_count(session) == 1


# Privacy ---------------------------------------------------------------------------------


def test_no_raw_ip_is_stored_in_the_click_row(app, client, session):
    link = LinkFactory()
    ip = "203.0.113.45"
    response = client.get(
        f"/r/{link.code}?note=hello",
        headers={**HUMAN, "X-Forwarded-For": "198.51.100.77", "X-Real-IP": "198.51.100.78"},
        environ_base={"REMOTE_ADDR": ip},
    )
    click_id = query_of(response)["aff_click_id"][0]
    row = session.execute(text("SELECT * FROM clicks WHERE id = :id"), {"id": click_id}).one()
    hasher = VisitorHasher(app.config["IP_HASH_KEY"])
    assert row.ip_hash == hasher.ip_hash(ip) != ip
    assert row.visitor_key == hasher.visitor_key(ip, BROWSER)
    for value in row:
        for address in (ip, "198.51.100.77", "198.51.100.78"):
            assert address not in str(value)


def test_ipv6_addresses_are_hashed_too(app, client, session):
    link = LinkFactory()
    ip = "2001:db8::1"
    response = client.get(f"/r/{link.code}", headers=HUMAN, environ_base={"REMOTE_ADDR": ip})
    click = click_of(session, response)
    assert click.ip_hash == VisitorHasher(app.config["IP_HASH_KEY"]).ip_hash(ip)
    assert ip not in click.ip_hash and ip not in click.visitor_key


def test_x_forwarded_for_is_ignored_by_default(app, client, session):
    link = LinkFactory()
    response = client.get(
        f"/r/{link.code}",
        headers={**HUMAN, "X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert click_of(session, response).ip_hash == VisitorHasher(app.config["IP_HASH_KEY"]).ip_hash(
        "10.0.0.1"
    )


def test_x_forwarded_for_is_honoured_for_the_trusted_proxies_only(database_url, session):
    link = LinkFactory()
    with another_app(database_url, TRUSTED_PROXIES=1) as proxied:
        hasher = VisitorHasher(proxied.config["IP_HASH_KEY"])
        client = proxied.test_client()
        ids = []
        for forwarded in ("198.51.100.7", "1.2.3.4, 198.51.100.7"):
            response = client.get(
                f"/r/{link.code}",
                headers={**HUMAN, "X-Forwarded-For": forwarded},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
            )
            assert response.status_code == 302
            ids.append(query_of(response)["aff_click_id"][0])
        with proxied.app_context():
            from affiliates.extensions import db

            hashes = [db.session.get(Click, click_id).ip_hash for click_id in ids]
    # one trusted hop: the address it saw, never one the client planted before it
    assert hashes == [hasher.ip_hash("198.51.100.7")] * 2


# The click id ----------------------------------------------------------------------------


def test_click_ids_are_unguessable_and_distinct(client, session):
    link = LinkFactory()
    ids = [
        query_of(client.get(f"/r/{link.code}", headers=HUMAN))["aff_click_id"][0]
        for _ in range(200)
    ]
    assert len(set(ids)) == 200
    for click_id in ids:
        # URL-safe base64: 6 bits a character, at least 128 bits of randomness
        assert re.fullmatch(r"[A-Za-z0-9_-]+", click_id)
        assert len(click_id) * 6 >= 128
    assert set(session.scalars(select(Click.id))) == set(ids)
    # no shared prefix a guesser could lean on
    assert len({click_id[:4] for click_id in ids}) > 150


def test_the_partner_can_use_its_own_link_with_its_key(client, session):
    """A partner key sees its clicks in stats; the redirector needs no key at all."""
    partner = PartnerFactory()
    link = LinkFactory(partner=partner)
    client.get(f"/r/{link.code}", headers=HUMAN)
    stats = client.get("/api/v1/stats", headers=bearer(partner_key(partner)))
    assert stats.get_json()["totals"]["clicks"] == 1
