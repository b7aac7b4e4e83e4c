"""Flask-Login: sessions carry a user's session token; machine paths never see a session."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from flask import Blueprint, request
from flask import session as page_session
from flask_login import current_user, login_required, login_user

from affiliates.extensions import db
from affiliates.services import accounts, program
from tests.apps import another_app
from tests.factories import LinkFactory, OfferFactory

PASSWORD = "partner pass"


def _add_test_pages(application):
    """Pages standing in for the cabinet's until it exists."""

    @application.post("/test/login")
    def test_login():
        user = accounts.authenticate(db.session, request.form["email"], request.form["password"])
        if user is None or not login_user(user):
            return "refused", 403
        return "logged in"

    @application.post("/test/change-password")
    @login_required
    def test_change_password():
        accounts.change_password(db.session, current_user, request.form["current"],
                                 request.form["new"])  # fmt: skip
        login_user(current_user)  # this session goes on under the new token
        return "changed"

    @application.get("/test/whoami")
    def test_whoami():
        return "anonymous" if current_user.is_anonymous else current_user.email

    @application.get("/api/test/whoami")
    def test_api_whoami():
        return "anonymous" if current_user.is_anonymous else current_user.email

    @application.get("/api/test/remember")
    def test_api_remember():
        page_session["note"] = "written on the API"
        return "noted"

    @application.get("/test/private")
    @login_required
    def test_private():
        return "secret"


@pytest.fixture(scope="module")
def pages(app, database_url):
    with another_app(database_url) as application:
        _add_test_pages(application)
        yield application


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: hasher.hash("no such user"))


@pytest.fixture
def loads(monkeypatch):
    """The session tokens the user loader was asked for."""
    asked: list[str] = []
    real = accounts.load_user

    def counting(session, token):
        asked.append(token)
        return real(session, token)

    monkeypatch.setattr(accounts, "load_user", counting)
    return asked


def partner_login(session, email="anna@example.com"):
    return program.create_partner(session, "Anna", email, PASSWORD)


def logged_in(application, email="anna@example.com", password=PASSWORD):
    client = application.test_client()
    response = client.post("/test/login", data={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def session_cookie(response):
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]


def test_the_user_loader_loads_the_user_by_its_session_token(pages, session, loads):
    partner_login(session)
    client = logged_in(pages)
    assert client.get("/test/whoami").get_data(as_text=True) == "anna@example.com"
    token = accounts.find_for_login(session, "anna@example.com").session_token
    assert loads == [token]


def test_a_login_sets_an_httponly_samesite_lax_session_cookie(pages, session):
    partner_login(session)
    response = pages.test_client().post(
        "/test/login", data={"email": "anna@example.com", "password": PASSWORD}
    )
    [cookie] = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_page_asks_for_the_user_only_when_it_uses_current_user(pages, session, loads):
    partner_login(session)
    client = logged_in(pages)
    assert client.get("/no-such-page").status_code == 404
    assert loads == []


def test_a_suspended_partners_session_stops_working_at_once(pages, session, admin_headers):
    partner = partner_login(session)
    client = logged_in(pages)
    assert client.get("/test/private").status_code == 200
    response = pages.test_client().patch(
        f"/api/v1/partners/{partner.id}", json={"status": "suspended"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert client.get("/test/whoami").get_data(as_text=True) == "anonymous"
    assert client.get("/test/private").status_code == 401


def test_a_suspended_partner_cannot_log_in(pages, session):
    partner = partner_login(session)
    program.update_partner(session, partner.id, {"status": "suspended"})
    response = pages.test_client().post(
        "/test/login", data={"email": "anna@example.com", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert session_cookie(response) == []


def test_changing_the_password_logs_out_the_other_sessions_only(pages, session):
    partner_login(session)
    here, elsewhere = logged_in(pages), logged_in(pages)
    response = here.post(
        "/test/change-password", data={"current": PASSWORD, "new": "a new password"}
    )
    assert response.status_code == 200
    assert here.get("/test/whoami").get_data(as_text=True) == "anna@example.com"
    assert elsewhere.get("/test/whoami").get_data(as_text=True) == "anonymous"


def test_a_page_needing_a_login_answers_the_401_page_while_there_is_no_login_page(pages):
    response = pages.test_client().get("/test/private")
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert "Please log in" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_a_page_needing_a_login_leads_to_the_login_page_once_it_exists(app, database_url):
    login = Blueprint("accounts", __name__)
    login.add_url_rule("/login", "login", lambda: "the login form")
    with another_app(database_url) as application:
        _add_test_pages(application)
        application.register_blueprint(login)
        response = application.test_client().get("/test/private?tab=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Ftest%2Fprivate%3Ftab%3D2"


# Machine paths ---------------------------------------------------------------------------


def machine_requests(key):
    offer = OfferFactory()
    link = LinkFactory(offer=offer)
    return [
        ("/api/v1/offers", key, 200),
        (f"/r/{link.code}", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}, 302),
        (f"/p/conversion.gif?offer_id={offer.id}&order_id=o-1&amount=10", {}, 200),
        ("/healthz", {}, 200),
        ("/api/v1/no-such-route", key, 404),
    ]


def test_machine_paths_never_load_a_user_nor_touch_the_session(
    pages, session, loads, admin_headers
):
    partner_login(session)
    client = logged_in(pages)
    for path, headers, status in machine_requests(admin_headers):
        response = client.get(path, headers=headers)
        assert response.status_code == status, path
        assert session_cookie(response) == [], path
        assert "Cookie" not in response.headers.get("Vary", ""), path
    assert client.get("/api/test/whoami").get_data(as_text=True) == "anonymous"
    assert loads == []
    # and the page session is still there
    assert client.get("/test/whoami").get_data(as_text=True) == "anna@example.com"


def test_api_requests_never_set_a_session_cookie_even_when_they_write_one(pages, session):
    partner_login(session)
    client = logged_in(pages)
    response = client.get("/api/test/remember")
    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
    assert client.get("/test/whoami").get_data(as_text=True) == "anna@example.com"
