"""Errors by audience: problem+json under /api/, a page in the reader's language anywhere
else; never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from affiliates.exceptions import DomainError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# Statuses with a page of their own in templates/errors/; any other gets errors/error.html.
PAGES = frozenset({401, 403, 404, 409, 422, 500, 503})
# The generic page's heading for statuses people may meet without a page of their own.
TITLES = {
    400: _l("The request could not be understood"),
    405: _l("This action is not allowed here"),
    413: _l("What you sent is too large"),
    429: _l("Too many attempts"),
}


def problem(
    status: int, title: str, detail: str = "", errors: list[dict[str, str]] | None = None
) -> Response:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": errors or [],
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="affiliates"'
    return response


def wants_problem() -> bool:
    """Whether the request is the API's (its errors are problem+json)."""
    return request.path.startswith("/api/")


def page(status: int, detail: str = "", errors: list[dict[str, str]] | None = None) -> Response:
    """The HTML error page for `status`, in the base layout; `detail` and the field
    `errors` (a domain error's) are shown escaped."""
    template = f"errors/{status}.html" if status in PAGES else "errors/error.html"
    html = render_template(
        template, status=status, title=TITLES.get(status), detail=detail, errors=errors or []
    )
    response = Response(html, status=status, mimetype="text/html")
    response.vary.update(("Accept-Language", "Cookie"))  # its language is the reader's
    return response


def register(app: Flask) -> None:
    """Attach handlers for domain errors, HTTP errors and anything unexpected."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        if wants_problem():
            return problem(exc.status, exc.title, exc.detail, exc.errors)
        return page(exc.status, exc.detail, exc.errors)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        if wants_problem():
            response = problem(status, exc.name, exc.description or exc.name)
        else:
            response = page(status)
        own = exc.get_response().headers
        for header in ("Allow", "Retry-After"):  # a 405's methods, a 429's or 503's wait
            if own.get(header):
                response.headers[header] = own[header]
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(exc: DBAPIError) -> Response:
        # The database restarted or is out of reach: nothing was recorded, and a retry (with
        # the same order id: the intake is idempotent) is the right answer, not a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    str(exc.orig or exc)[:200])  # fmt: skip
        if wants_problem():
            response = problem(503, "Service unavailable",
                               "The database is not answering; retry shortly.")  # fmt: skip
        else:
            response = page(503)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_problem():
            return problem(500, "Internal server error", "The error was logged.")
        return page(500)
