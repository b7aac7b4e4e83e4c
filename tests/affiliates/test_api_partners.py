"""Partners (admin): unique emails, URL-safe ref codes, statuses, and partner API keys."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from affiliates.models import ApiKey, User
from affiliates.services.accounts import check_password
from tests.conftest import bearer
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, partner_key

PROBLEM = "application/problem+json"


def create(client, headers, **fields):
    body = {"name": "Anna's Blog", "email": "anna@example.com", **fields}
    return client.post("/api/v1/partners", json=body, headers=headers)


def error_fields(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.get_json()["errors"]]


# Creating ----------------------------------------------------------------------------------


def test_a_partner_is_created_active_with_a_short_url_safe_ref_code(client, admin_headers):
    response = create(client, admin_headers)
    assert response.status_code == 201
    partner = response.get_json()
    assert isinstance(partner["id"], int)
    assert partner["name"] == "Anna's Blog"
    assert partner["email"] == "anna@example.com"
    assert partner["status"] == "active"
    assert re.fullmatch(r"[A-Za-z0-9_-]{4,16}", partner["ref_code"])


def test_ref_codes_are_unique(client, admin_headers):
    codes = {
        create(client, admin_headers, email=f"p{n}@example.com").get_json()["ref_code"]
        for n in range(25)
    }
    assert len(codes) == 25


@pytest.mark.parametrize("status", ["active", "pending", "suspended"])
def test_a_partner_may_be_created_in_any_contract_status(client, admin_headers, status):
    response = create(client, admin_headers, status=status)
    assert response.status_code == 201
    assert response.get_json()["status"] == status


def test_the_email_is_stored_lower_cased(client, admin_headers):
    response = create(client, admin_headers, email="Anna.Smith@Example.COM")
    assert response.get_json()["email"] == "anna.smith@example.com"


def test_a_unicode_email_and_name_are_accepted(client, admin_headers):
    response = create(client, admin_headers, name="Блог Анны ✨", email="анна@пример.рф")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["name"] == "Блог Анны ✨"


def test_partner_email_is_unique_409(client, admin_headers):
    assert create(client, admin_headers).status_code == 201
    response = create(client, admin_headers, name="Someone else")
    assert error_fields(response, 409) == ["email"]


@pytest.mark.parametrize("email", ["ANNA@example.com", "anna@EXAMPLE.com", "Anna@Example.Com"])
def test_partner_email_is_unique_whatever_the_case_409(client, admin_headers, email):
    assert create(client, admin_headers).status_code == 201
    assert error_fields(create(client, admin_headers, email=email), 409) == ["email"]


def test_a_partner_email_taken_by_a_staff_login_is_409_when_it_needs_a_login(
    client, admin_headers, session
):
    session.add(User(email="boss@example.com", password_hash="x", role="admin"))
    session.commit()
    response = create(client, admin_headers, email="boss@example.com", password="long-enough")
    assert response.status_code == 409


def test_a_password_gives_the_partner_a_hashed_login(client, admin_headers, session):
    response = create(client, admin_headers, password="correct horse battery")
    assert response.status_code == 201
    assert "password" not in response.get_json()
    login = session.scalar(select(User).where(User.email == "anna@example.com"))
    assert login is not None
    assert login.role == "partner"
    assert login.partner_id == response.get_json()["id"]
    assert login.password_hash.startswith("$argon2id$")
    assert check_password(login.password_hash, "correct horse battery")


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "anna@",
        "@example.com",
        "anna@@example.com",
        "anna@example",
        "anna example@example.com",
        "anna@exa mple.com",
        "<script>@example.com",
        "",
        "a" * 300 + "@example.com",
        None,
        42,
        ["anna@example.com"],
    ],
)
def test_an_invalid_email_is_422_naming_it(client, admin_headers, email):
    assert error_fields(create(client, admin_headers, email=email)) == ["email"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "  "),
        ("name", "n" * 201),
        ("name", None),
        ("status", "banned"),
        ("status", "Active"),
        ("status", None),
        ("password", "short"),
        ("password", "p" * 201),
        ("password", 12345678),
        ("ref_code", "mine"),
        ("id", 1),
    ],
)
def test_an_invalid_partner_field_is_422_naming_it(client, admin_headers, field, value):
    assert error_fields(create(client, admin_headers, **{field: value})) == [field]


# Reading and changing ----------------------------------------------------------------------


def test_a_partner_is_read_back_as_created(client, admin_headers):
    created = create(client, admin_headers).get_json()
    response = client.get(f"/api/v1/partners/{created['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_an_unknown_partner_is_404(client, admin_headers):
    response = client.get("/api/v1/partners/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_partners_are_listed_newest_first_and_filtered_by_status(client, admin_headers):
    active = PartnerFactory(status="active")
    pending = PartnerFactory(status="pending")
    newest = PartnerFactory(status="active")
    items = client.get("/api/v1/partners", headers=admin_headers).get_json()["items"]
    assert [item["id"] for item in items] == [newest.id, pending.id, active.id]
    items = client.get(
        "/api/v1/partners", query_string={"status": "active"}, headers=admin_headers
    ).get_json()["items"]
    assert [item["id"] for item in items] == [newest.id, active.id]


def test_a_bad_status_filter_is_422(client, admin_headers):
    response = client.get(
        "/api/v1/partners", query_string={"status": "gone"}, headers=admin_headers
    )
    assert error_fields(response) == ["status"]


def test_a_pending_partner_is_approved_and_later_suspended(client, admin_headers):
    partner = PartnerFactory(status="pending")
    for status in ("active", "suspended"):
        response = client.patch(
            f"/api/v1/partners/{partner.id}", json={"status": status}, headers=admin_headers
        )
        assert response.status_code == 200
        assert response.get_json()["status"] == status


def test_a_partner_email_change_to_a_taken_one_is_409(client, admin_headers):
    PartnerFactory(email="taken@example.com")
    partner = PartnerFactory()
    response = client.patch(
        f"/api/v1/partners/{partner.id}", json={"email": "TAKEN@example.com"}, headers=admin_headers
    )
    assert error_fields(response, 409) == ["email"]
    after = client.get(f"/api/v1/partners/{partner.id}", headers=admin_headers).get_json()
    assert after["email"] == partner.email


def test_a_partner_may_keep_its_own_email_in_another_case(client, admin_headers):
    partner = PartnerFactory(email="me@example.com")
    response = client.patch(
        f"/api/v1/partners/{partner.id}", json={"email": "ME@example.com"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.get_json()["email"] == "me@example.com"


def test_a_partner_email_change_moves_its_login(client, admin_headers, session):
    created = create(client, admin_headers, password="long-enough-pw").get_json()
    client.patch(
        f"/api/v1/partners/{created['id']}",
        json={"email": "new@example.com"},
        headers=admin_headers,
    )
    login = session.scalar(select(User).where(User.partner_id == created["id"]))
    assert login.email == "new@example.com"


def test_a_password_patch_creates_or_replaces_the_login(client, admin_headers, session):
    partner = PartnerFactory()
    for password in ("first-password", "second-password"):
        response = client.patch(
            f"/api/v1/partners/{partner.id}", json={"password": password}, headers=admin_headers
        )
        assert response.status_code == 200
        session.expire_all()
        login = session.scalar(select(User).where(User.partner_id == partner.id))
        assert check_password(login.password_hash, password)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", None),
        ("email", None),
        ("status", None),
        ("status", "deleted"),
        ("email", "nope"),
        ("ref_code", "mine"),
    ],
)
def test_an_invalid_partner_patch_is_422_and_changes_nothing(client, admin_headers, field, value):
    partner = PartnerFactory()
    before = client.get(f"/api/v1/partners/{partner.id}", headers=admin_headers).get_json()
    response = client.patch(
        f"/api/v1/partners/{partner.id}", json={field: value}, headers=admin_headers
    )
    assert error_fields(response) == [field]
    assert client.get(f"/api/v1/partners/{partner.id}", headers=admin_headers).get_json() == before


def test_patching_an_unknown_partner_is_404(client, admin_headers):
    response = client.patch("/api/v1/partners/999999", json={"name": "x"}, headers=admin_headers)
    assert response.status_code == 404


# Partner API keys --------------------------------------------------------------------------


def test_partner_api_key_is_issued_for_that_partner(client, admin_headers, session):
    partner = PartnerFactory()
    response = client.post(f"/api/v1/partners/{partner.id}/api-keys", headers=admin_headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["scope"] == "partner"
    assert body["partner_id"] == partner.id
    assert isinstance(body["key"], str) and len(body["key"]) >= 32
    stored = session.scalars(select(ApiKey).where(ApiKey.partner_id == partner.id)).one()
    assert body["key"] not in (stored.key_hash, stored.prefix)  # only a hash is kept


def test_an_issued_partner_key_works_and_sees_only_its_own_links(client, admin_headers):
    partner, other = PartnerFactory(), PartnerFactory()
    offer = OfferFactory()
    mine = LinkFactory(partner=partner, offer=offer)
    LinkFactory(partner=other, offer=offer)
    key = client.post(
        f"/api/v1/partners/{partner.id}/api-keys", json={"name": "my site"}, headers=admin_headers
    ).get_json()["key"]
    response = client.get("/api/v1/links", headers=bearer(key))
    assert response.status_code == 200
    assert [item["id"] for item in response.get_json()["items"]] == [mine.id]
    created = client.post("/api/v1/links", json={"offer_id": offer.id}, headers=bearer(key))
    assert created.status_code == 201
    assert created.get_json()["partner_id"] == partner.id


def test_an_issued_partner_key_is_not_an_admin_key(client, admin_headers):
    partner = PartnerFactory()
    key = client.post(f"/api/v1/partners/{partner.id}/api-keys", headers=admin_headers).get_json()[
        "key"
    ]
    assert client.get("/api/v1/partners", headers=bearer(key)).status_code == 403
    assert client.get(f"/api/v1/partners/{partner.id}", headers=bearer(key)).status_code == 403
    response = client.post(f"/api/v1/partners/{partner.id}/api-keys", headers=bearer(key))
    assert response.status_code == 403


def test_each_issued_key_is_different(client, admin_headers):
    partner = PartnerFactory()
    keys = {
        client.post(f"/api/v1/partners/{partner.id}/api-keys", headers=admin_headers).get_json()[
            "key"
        ]
        for _ in range(3)
    }
    assert len(keys) == 3


def test_an_api_key_for_an_unknown_partner_is_404(client, admin_headers):
    response = client.post("/api/v1/partners/999999/api-keys", headers=admin_headers)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


@pytest.mark.parametrize("body", [{"name": "x" * 201}, {"scope": "admin"}, {"partner_id": 1}])
def test_an_invalid_api_key_request_is_422(client, admin_headers, body):
    partner = PartnerFactory()
    response = client.post(
        f"/api/v1/partners/{partner.id}/api-keys", json=body, headers=admin_headers
    )
    assert response.status_code == 422


def test_partners_are_admin_only(client, conversions_headers):
    partner = PartnerFactory()
    for headers in (conversions_headers, bearer(partner_key(partner))):
        assert client.get("/api/v1/partners", headers=headers).status_code == 403
        assert create(client, headers).status_code == 403
        response = client.patch(f"/api/v1/partners/{partner.id}", json={}, headers=headers)
        assert response.status_code == 403
