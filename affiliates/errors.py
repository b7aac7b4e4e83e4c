"""problem+json for the API, small friendly pages for people; never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from affiliates.exceptions import DomainError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


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
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    """Attach handlers for domain errors, HTTP errors and anything unexpected."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        return problem(exc.status, exc.title, exc.detail, exc.errors)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if wants_problem():
            response = problem(status, exc.name, exc.description or exc.name)
            if status == 405 and exc.get_response().headers.get("Allow"):
                response.headers["Allow"] = exc.get_response().headers["Allow"]
            return response
        template = "errors/404.html" if status == 404 else "errors/error.html"
        return render_template(template, status=status, title=exc.name), status

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(exc: DBAPIError) -> Any:
        # The database restarted or is out of reach: nothing was recorded, and a retry (with
        # the same order id: the intake is idempotent) is the right answer, not a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    str(exc.orig or exc)[:200])  # fmt: skip
        if wants_problem():
            response = problem(503, "Service unavailable",
                               "The database is not answering; retry shortly.")  # fmt: skip
        else:
            response = Response(
                render_template("errors/error.html", status=503, title="Service unavailable"),
                status=503,
            )
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_problem():
            return problem(500, "Internal server error", "The error was logged.")
        return render_template("errors/error.html", status=500, title="Internal error"), 500
