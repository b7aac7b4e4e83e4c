"""Tracked links: UTM defaults, allowed domains only, and partners confined to their own."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from affiliates.models import Link
from tests.conftest import bearer
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, partner_key

PROBLEM = "application/problem+json"
BASE_URL = "https://go.example.com"  # the test app's BASE_URL


def create(client, headers, **fields):
    return client.post("/api/v1/links", json=fields, headers=headers)


def error_fields(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.get_json()["errors"]]


def link_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Link))


@pytest.fixture
def offer():
    return OfferFactory(
        slug="summer-sale",
        destination_url="https://shop.example.com/",
        allowed_domains=["shop.example.com", "example.org"],
    )


@pytest.fixture
def partner():
    return PartnerFactory(ref_code="anna2024")


# Creating ----------------------------------------------------------------------------------


def test_a_link_gets_a_tracked_short_url_and_the_contract_utm_defaults(
    client, admin_headers, offer, partner
):
    response = create(client, admin_headers, partner_id=partner.id, offer_id=offer.id)
    assert response.status_code == 201
    link = response.get_json()
    assert link["url"] == f"{BASE_URL}/r/{link['code']}"
    assert link["destination_url"] == "https://shop.example.com/"
    assert link["partner_id"] == partner.id
    assert link["offer_id"] == offer.id
    assert link["utm_source"] == "anna2024"
    assert link["utm_medium"] == "affiliate"
    assert link["utm_campaign"] == "summer-sale"
    assert link["utm_content"] is None and link["utm_term"] is None and link["sub_id"] is None
    assert link["archived"] is False


def test_explicit_utm_tags_and_sub_id_replace_the_defaults(client, admin_headers, offer, partner):
    tags = {
        "utm_source": "telegram",
        "utm_medium": "post",
        "utm_campaign": "june",
        "utm_content": "banner-1",
        "utm_term": "кроссовки",
        "sub_id": "channel-42",
    }
    response = create(client, admin_headers, partner_id=partner.id, offer_id=offer.id, **tags)
    assert response.status_code == 201
    assert {key: response.get_json()[key] for key in tags} == tags


def test_link_codes_are_unique(client, admin_headers, offer, partner):
    codes = {
        create(client, admin_headers, partner_id=partner.id, offer_id=offer.id).get_json()["code"]
        for _ in range(20)
    }
    assert len(codes) == 20


@pytest.mark.parametrize(
    "destination",
    [
        "https://shop.example.com/catalog/shoes?size=42#reviews",
        "http://shop.example.com/",
        "https://SHOP.example.com/upper",
        "https://m.shop.example.com/mobile",
        "https://example.org/",
        "https://blog.example.org/post",
        "https://shop.example.com:8443/port",
    ],
)
def test_a_deep_link_inside_the_allowed_domains_is_accepted(
    client, admin_headers, offer, partner, destination
):
    response = create(
        client, admin_headers, partner_id=partner.id, offer_id=offer.id, destination_url=destination
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["destination_url"] == destination


HOSTILE_DESTINATIONS = [
    "https://shop.example.com@evil.com",
    "https://shop.example.com@evil.com/path",
    "https://shop.example.com:443@evil.com/",
    "https://user:pw@shop.example.com/",
    "javascript:alert(1)",
    "javascript://shop.example.com/%0aalert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "https://evil.com\\@shop.example.com",
    "https://evil.com\\shop.example.com",
    "https:\\\\evil.com",
    "https://shop.example.com.evil.com",
    "https://shop.example.com.evil.com/path",
    "https://shop.example.comevil.com",
    "https://evilshop.example.com",
    "https://example.com",
    "https://example.org.evil.com",
    "https://evil.com/shop.example.com",
    "https://evil.com?https://shop.example.com",
    "https://evil.com#@shop.example.com",
    "https://evil.com%2f@shop.example.com",
    "https://shop.example.com%2eevil.com",
    "https://shop.example.com\u3002evil.com",
    "https://shop.example.com\uff0eevil.com",
    "https://shop.example.com\u2215evil.com",
    "https://shop.example.com\t.evil.com",
    "https://shop.example.com\r\nLocation: https://evil.com",
    "https://evil.com\x00shop.example.com",
    "//evil.com",
    "///evil.com",
    "/relative/path",
    "evil.com",
    "https://192.168.0.1/",
    "https://[::1]/",
    "https://0x7f.0.0.1/",
    "",
]


@pytest.mark.parametrize("destination", HOSTILE_DESTINATIONS)
def test_link_never_leads_outside_offer_allowed_domains(
    client, admin_headers, session, offer, partner, destination
):
    response = create(
        client, admin_headers, partner_id=partner.id, offer_id=offer.id, destination_url=destination
    )
    assert error_fields(response) == ["destination_url"]
    assert link_count(session) == 0


@pytest.mark.parametrize("destination", HOSTILE_DESTINATIONS[:10])
def test_a_partner_key_cannot_make_a_link_outside_the_allowed_domains_either(
    client, session, offer, partner, destination
):
    headers = bearer(partner_key(partner))
    response = create(client, headers, offer_id=offer.id, destination_url=destination)
    assert error_fields(response) == ["destination_url"]
    assert link_count(session) == 0


def test_a_created_link_redirects_to_its_allowed_destination_with_its_tags(
    client, admin_headers, offer, partner
):
    link = create(
        client,
        admin_headers,
        partner_id=partner.id,
        offer_id=offer.id,
        destination_url="https://shop.example.com/item?color=red",
    ).get_json()
    response = client.get(urlsplit(link["url"]).path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.hostname == "shop.example.com"
    query = parse_qs(location.query)
    assert query["color"] == ["red"]
    assert query["utm_source"] == ["anna2024"]
    assert query["utm_campaign"] == ["summer-sale"]


def test_a_link_to_an_unknown_offer_is_422_naming_offer_id(client, admin_headers, partner):
    response = create(client, admin_headers, partner_id=partner.id, offer_id=999999)
    assert error_fields(response) == ["offer_id"]


def test_a_link_for_an_unknown_partner_is_422_naming_partner_id(client, admin_headers, offer):
    response = create(client, admin_headers, partner_id=999999, offer_id=offer.id)
    assert error_fields(response) == ["partner_id"]


def test_an_admin_must_name_the_partner(client, admin_headers, offer):
    assert error_fields(create(client, admin_headers, offer_id=offer.id)) == ["partner_id"]


def test_a_link_to_an_archived_offer_is_422(client, admin_headers, partner):
    offer = OfferFactory(status="archived")
    response = create(client, admin_headers, partner_id=partner.id, offer_id=offer.id)
    assert error_fields(response) == ["offer_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("offer_id", None),
        ("offer_id", True),
        ("offer_id", 0),
        ("offer_id", -1),
        ("offer_id", 1.5),
        ("offer_id", 10**30),
        ("partner_id", False),
        ("partner_id", "abc"),
        ("utm_source", ""),
        ("utm_source", "   "),
        ("utm_source", "s" * 201),
        ("utm_medium", 5),
        ("sub_id", ["a"]),
        ("destination_url", 42),
        ("code", "mine"),
        ("url", "https://go.example.com/r/x"),
    ],
)
def test_an_invalid_link_field_is_422_naming_it(
    client, admin_headers, offer, partner, field, value
):
    body = {"partner_id": partner.id, "offer_id": offer.id, field: value}
    assert error_fields(client.post("/api/v1/links", json=body, headers=admin_headers)) == [field]


# Partner-scoped keys -----------------------------------------------------------------------


def test_a_partner_key_makes_links_for_itself_with_partner_id_implied(
    client, session, offer, partner
):
    response = create(client, bearer(partner_key(partner)), offer_id=offer.id)
    assert response.status_code == 201
    assert response.get_json()["partner_id"] == partner.id
    assert response.get_json()["utm_source"] == partner.ref_code


def test_a_partner_key_may_name_itself_as_partner(client, offer, partner):
    response = create(
        client, bearer(partner_key(partner)), partner_id=partner.id, offer_id=offer.id
    )
    assert response.status_code == 201


def test_a_partner_key_cannot_make_links_for_another_partner_404(client, session, offer, partner):
    other = PartnerFactory()
    response = create(client, bearer(partner_key(partner)), partner_id=other.id, offer_id=offer.id)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert link_count(session) == 0


def test_partner_key_sees_only_its_own_links_and_gets_404_for_others(client, offer, partner):
    other = PartnerFactory()
    mine = [LinkFactory(partner=partner, offer=offer) for _ in range(2)]
    theirs = LinkFactory(partner=other, offer=offer)
    headers = bearer(partner_key(partner))

    items = client.get("/api/v1/links", headers=headers).get_json()["items"]
    assert [item["id"] for item in items] == [mine[1].id, mine[0].id]
    # asking for another partner's links still shows only its own
    items = client.get(
        "/api/v1/links", query_string={"partner_id": other.id}, headers=headers
    ).get_json()["items"]
    assert {item["id"] for item in items} == {link.id for link in mine}

    assert client.get(f"/api/v1/links/{mine[0].id}", headers=headers).status_code == 200
    for response in (
        client.get(f"/api/v1/links/{theirs.id}", headers=headers),
        client.patch(f"/api/v1/links/{theirs.id}", json={"archived": True}, headers=headers),
        client.patch(f"/api/v1/links/{theirs.id}", json={"utm_source": "x"}, headers=headers),
        client.delete(f"/api/v1/links/{theirs.id}", headers=headers),
    ):
        assert response.status_code == 404
        assert response.mimetype == PROBLEM
        assert str(other.id) not in response.get_data(as_text=True).replace(str(theirs.id), "")


def test_another_partners_link_answers_exactly_like_a_missing_one(client, offer, partner):
    theirs = LinkFactory(partner=PartnerFactory(), offer=offer)
    headers = bearer(partner_key(partner))
    existing = client.get(f"/api/v1/links/{theirs.id}", headers=headers)
    missing = client.get("/api/v1/links/999999", headers=headers)
    assert existing.status_code == missing.status_code == 404
    assert existing.get_json()["title"] == missing.get_json()["title"]
    assert existing.get_json()["errors"] == missing.get_json()["errors"]


def test_another_partners_link_is_unchanged_after_the_attempts(client, session, offer, partner):
    theirs = LinkFactory(partner=PartnerFactory(), offer=offer, utm_source="theirs")
    headers = bearer(partner_key(partner))
    client.patch(f"/api/v1/links/{theirs.id}", json={"utm_source": "mine"}, headers=headers)
    client.delete(f"/api/v1/links/{theirs.id}", headers=headers)
    session.expire_all()
    link = session.get(Link, theirs.id)
    assert link.utm_source == "theirs"
    assert link.archived_at is None


def test_an_admin_sees_every_link_and_filters_by_partner_and_offer(
    client, admin_headers, offer, partner
):
    other, other_offer = PartnerFactory(), OfferFactory()
    a = LinkFactory(partner=partner, offer=offer)
    b = LinkFactory(partner=other, offer=offer)
    c = LinkFactory(partner=partner, offer=other_offer)

    def ids(**query):
        body = client.get("/api/v1/links", query_string=query, headers=admin_headers).get_json()
        return [item["id"] for item in body["items"]]

    assert ids() == [c.id, b.id, a.id]
    assert ids(partner_id=partner.id) == [c.id, a.id]
    assert ids(offer_id=offer.id) == [b.id, a.id]
    assert ids(partner_id=partner.id, offer_id=offer.id) == [a.id]
    assert ids(partner_id=999999) == []


# Changing and archiving --------------------------------------------------------------------


def test_a_partner_archives_its_own_link_and_it_stops_redirecting(client, offer, partner):
    link = LinkFactory(partner=partner, offer=offer)
    headers = bearer(partner_key(partner))
    assert client.get(f"/r/{link.code}").status_code == 302
    response = client.delete(f"/api/v1/links/{link.id}", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["archived"] is True
    assert client.get(f"/r/{link.code}").status_code == 404
    restored = client.patch(f"/api/v1/links/{link.id}", json={"archived": False}, headers=headers)
    assert restored.get_json()["archived"] is False
    assert client.get(f"/r/{link.code}").status_code == 302


def test_archived_links_are_filtered(client, admin_headers, offer, partner):
    live = LinkFactory(partner=partner, offer=offer)
    gone = LinkFactory(partner=partner, offer=offer)
    client.delete(f"/api/v1/links/{gone.id}", headers=admin_headers)

    def ids(**query):
        body = client.get("/api/v1/links", query_string=query, headers=admin_headers).get_json()
        return [item["id"] for item in body["items"]]

    assert ids(archived="true") == [gone.id]
    assert ids(archived="false") == [live.id]


def test_a_link_patch_changes_its_tags(client, admin_headers, offer, partner):
    link = LinkFactory(partner=partner, offer=offer)
    response = client.patch(
        f"/api/v1/links/{link.id}",
        json={"utm_content": "story", "sub_id": "s1"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert response.get_json()["utm_content"] == "story"
    assert response.get_json()["sub_id"] == "s1"


@pytest.mark.parametrize(
    "body",
    [
        {"archived": None},
        {"archived": "perhaps"},
        {"destination_url": "https://evil.com/"},
        {"partner_id": 2},
        {"offer_id": 2},
        {"code": "abc"},
    ],
)
def test_an_invalid_link_patch_is_422_and_changes_nothing(
    client, admin_headers, session, offer, partner, body
):
    link = LinkFactory(partner=partner, offer=offer)
    before = client.get(f"/api/v1/links/{link.id}", headers=admin_headers).get_json()
    response = client.patch(
        f"/api/v1/links/{link.id}", json={"utm_source": "changed", **body}, headers=admin_headers
    )
    assert response.status_code == 422
    assert client.get(f"/api/v1/links/{link.id}", headers=admin_headers).get_json() == before


def test_an_unknown_link_is_404(client, admin_headers):
    assert client.get("/api/v1/links/999999", headers=admin_headers).status_code == 404
    assert client.delete("/api/v1/links/999999", headers=admin_headers).status_code == 404
