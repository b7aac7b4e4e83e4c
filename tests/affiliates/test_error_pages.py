"""Errors by audience: problem+json under /api/, an HTML page in the base layout elsewhere,
in English or Russian."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import abort
from sqlalchemy.exc import OperationalError

from affiliates.config import ROOT
from affiliates.exceptions import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from tests.apps import another_app

PROBLEM = "application/problem+json"
SCRIPT = '<script>alert("x")</script>'

RAISES = {
    "unauthorized": lambda: Unauthorized("Log in to see this."),
    "forbidden": lambda: Forbidden("Analysts change nothing."),
    "not_found": lambda: NotFound("No partner has this id."),
    "conflict": lambda: Conflict(
        "A partner with this email already exists.",
        [{"field": "email", "message": "This email is already registered."}],
    ),
    "invalid": lambda: Invalid("email", f"{SCRIPT} is not an email address."),
    "refused": lambda: DomainError("This cannot be done."),
    "database": lambda: OperationalError("SELECT 1", {}, Exception("server closed")),
    "crash": lambda: RuntimeError("a bug"),
}
# kind: status, the English and the Russian heading of its page
PAGES = {
    "unauthorized": (401, "Please log in", "Войдите в систему"),
    "forbidden": (403, "Access denied", "Доступ запрещён"),
    "not_found": (404, "Page not found", "Страница не найдена"),
    "conflict": (409, "This conflicts with something that exists",
                 "Это противоречит уже существующим данным"),
    "invalid": (422, "Some fields need attention", "Проверьте заполнение полей"),
    "refused": (400, "The request could not be understood", "Запрос не удалось разобрать"),
    "database": (503, "The service is briefly unavailable", "Сервис ненадолго недоступен"),
    "crash": (500, "Something went wrong on our side", "Что-то пошло не так на нашей стороне"),
}  # fmt: skip


@pytest.fixture(scope="module")
def pages(app, database_url):
    with another_app(database_url) as application:

        @application.get("/test/raise/<kind>")
        @application.get("/api/test/raise/<kind>")
        def raise_(kind):
            raise RAISES[kind]()

        @application.get("/test/abort/<int:status>")
        @application.get("/api/test/abort/<int:status>")
        def abort_(status):
            abort(status)

        yield application


def heading(response):
    return re.search(r"<h1>(.*?)</h1>", response.get_data(as_text=True)).group(1)


@pytest.mark.parametrize("kind", PAGES)
def test_a_domain_error_on_a_page_renders_its_page_in_english(pages, kind):
    status, english, _ = PAGES[kind]
    response = pages.test_client().get(f"/test/raise/{kind}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert heading(response) == english
    assert '<html lang="en">' in response.get_data(as_text=True)


def reader(application, accept_language=None, lang=None):
    """A browser asking for `accept_language`, with the `lang` choice made (or not)."""
    client = application.test_client()
    if accept_language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    if lang:
        client.set_cookie("lang", lang)
    return client


@pytest.mark.parametrize("kind", PAGES)
@pytest.mark.parametrize(
    "browser",
    [{"accept_language": "ru-RU,ru;q=0.9,en;q=0.5"}, {"lang": "ru"}],
    ids=["accept-language", "lang-cookie"],
)
def test_a_domain_error_on_a_page_renders_its_page_in_russian(pages, kind, browser):
    status, _, russian = PAGES[kind]
    response = reader(pages, **browser).get(f"/test/raise/{kind}")
    assert response.status_code == status
    assert heading(response) == russian
    assert '<html lang="ru">' in response.get_data(as_text=True)


def test_the_users_choice_beats_the_browsers_language(pages):
    response = reader(pages, accept_language="ru", lang="en").get("/no-such-page")
    assert heading(response) == "Page not found"


def test_an_unknown_language_falls_back_to_english(pages):
    response = reader(pages, accept_language="de-DE,fr;q=0.8", lang="xx").get("/no-such-page")
    assert heading(response) == "Page not found"


@pytest.mark.parametrize("kind", ["forbidden", "not_found", "conflict", "unauthorized"])
def test_a_page_shows_the_domain_errors_detail(pages, kind):
    detail = RAISES[kind]().detail
    response = pages.test_client().get(f"/test/raise/{kind}")
    assert f'<p class="detail">{detail}</p>' in response.get_data(as_text=True)


def test_a_422_page_shows_the_field_messages_escaped(pages):
    html = pages.test_client().get("/test/raise/invalid").get_data(as_text=True)
    assert "<script>" not in html
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; is not an email address."
    assert f'<p class="detail">{escaped}</p>' in html
    assert f"<li><code>email</code>: {escaped}</li>" in html


def test_a_409_page_shows_the_field_messages(pages):
    html = pages.test_client().get("/test/raise/conflict").get_data(as_text=True)
    assert "<li><code>email</code>: This email is already registered.</li>" in html


def test_a_crash_on_a_page_does_not_show_its_message(pages):
    html = pages.test_client().get("/test/raise/crash").get_data(as_text=True)
    assert "a bug" not in html


def test_a_503_page_asks_to_retry_after_a_second(pages):
    response = pages.test_client().get("/test/raise/database")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("status", "english"),
    [
        (401, "Please log in"),
        (403, "Access denied"),
        (404, "Page not found"),
        (409, "This conflicts with something that exists"),
        (422, "Some fields need attention"),
        (500, "Something went wrong on our side"),
        (503, "The service is briefly unavailable"),
        (400, "The request could not be understood"),
        (413, "What you sent is too large"),
        (418, "Something went wrong"),
    ],
)
def test_an_http_error_on_a_page_renders_its_page(pages, status, english):
    response = pages.test_client().get(f"/test/abort/{status}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert heading(response) == english
    assert f"Error {status}" in response.get_data(as_text=True)


def test_an_unknown_page_is_the_404_page(pages):
    response = pages.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert heading(response) == "Page not found"


def test_a_405_page_names_the_allowed_methods(pages):
    response = pages.test_client().post("/test/abort/404")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


# The API keeps problem+json ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "title"),
    [
        ("unauthorized", 401, "Unauthorized"),
        ("forbidden", 403, "Forbidden"),
        ("not_found", 404, "Not found"),
        ("conflict", 409, "Conflict"),
        ("invalid", 422, "Validation failed"),
        ("refused", 400, "Bad request"),
    ],
)
def test_a_domain_error_under_api_stays_problem_json(pages, kind, status, title):
    error = RAISES[kind]()
    response = pages.test_client().get(f"/api/test/raise/{kind}")
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    assert response.get_json() == {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": error.detail,
        "errors": error.errors,
    }


def test_a_database_outage_under_api_stays_a_problem_503_with_retry_after(pages):
    response = pages.test_client().get("/api/test/raise/database")
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["title"] == "Service unavailable"


def test_a_crash_under_api_stays_a_problem_500(pages):
    response = pages.test_client().get("/api/test/raise/crash")
    assert response.status_code == 500
    assert response.get_json()["detail"] == "The error was logged."


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 422, 500, 503])
def test_an_http_error_under_api_stays_problem_json(pages, status):
    response = pages.test_client().get(
        f"/api/test/abort/{status}", headers={"Accept-Language": "ru"}
    )
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    assert response.get_json()["status"] == status


def test_an_unknown_api_route_stays_problem_json(client):
    response = client.get("/api/v1/no-such-route", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


# The layout -------------------------------------------------------------------------------


def test_the_base_layout_has_a_header_a_main_and_a_footer(client):
    html = client.get("/no-such-page").get_data(as_text=True)
    for part in (
        '<header class="site-header">',
        '<main id="main">',
        '<footer class="site-footer">',
    ):
        assert part in html


def test_no_template_loads_anything_from_another_site():
    external = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", re.I)
    for template in Path(ROOT / "templates").rglob("*.html"):
        assert not external.search(template.read_text()), template
        assert "@import" not in template.read_text(), template
