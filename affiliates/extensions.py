"""Extensions, created once and attached to the app in create_app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, abort, current_app, redirect, request
from flask_babel import Babel
from flask_login import LoginManager, current_user, login_url
from werkzeug.wrappers import Response

from affiliates.database import Database

if TYPE_CHECKING:
    from affiliates.models import User


class PageLoginManager(LoginManager):
    """Flask-Login for the pages, with nothing to do on any other request.

    Flask-Login's own init_app adds an after-request hook for its remember-me cookie, which
    reads the session on every request (the redirector's and the API's too), and a context
    processor that loads the user for every template rendered. We use neither: a login that
    should outlive the browser makes its session permanent (one cookie, whose token ends
    with the password), and templates get `current_user` itself, a proxy that loads the user
    only when a template uses it.
    """

    def init_app(self, app: Flask, add_context_processor: bool = True) -> None:
        app.login_manager = self  # type: ignore[attr-defined]  # where Flask-Login looks
        if add_context_processor:
            app.jinja_env.globals["current_user"] = current_user


db = Database()
babel = Babel()
login_manager = PageLoginManager()
# The coming /login page's endpoint; until it exists a page that needs a login answers 401.
login_manager.login_view = "accounts.login"

# Requests of machines and of customers' browsers: authenticated by API keys or not at all,
# they never have a session or a logged-in user (see CookieSessions in create_app).
MACHINE_PATHS = ("/api/", "/r/", "/p/")


def is_machine_path(path: str) -> bool:
    """Whether a request path belongs to the API, the redirector, the pixel or health."""
    return path.startswith(MACHINE_PATHS) or path == "/healthz"


@login_manager.user_loader
def _load_user(session_token: str) -> User | None:
    """The session's user: only when a page asks for current_user, never on machine paths."""
    from affiliates.services import accounts

    if is_machine_path(request.path):
        return None
    return accounts.load_user(db.session, session_token)


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    """To the login page with a relative `next`, once there is one; until then a 401 page."""
    view = login_manager.login_view
    if not isinstance(view, str) or view not in current_app.view_functions:
        abort(401)
    return redirect(login_url(view, next_url=request.full_path.rstrip("?")))
