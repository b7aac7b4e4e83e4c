"""affiliates: self-hosted affiliate and referral tracking."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

import tracking
from affiliates import config as config_module
from affiliates.config import INSTANCE_DIR, ROOT
from affiliates.extensions import db, is_machine_path


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then the environment, then `config`."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(ROOT / "templates"),
        static_folder=None,
    )
    app.config.update(config_module.load(config))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = CookieSessions()
    db.init_app(app)
    tracking.init_app(app, db.engine)
    if app.config["TRUSTED_PROXIES"]:
        # Honour X-Forwarded-For only from the configured number of proxies in front of us.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    register_request_bodies(app)
    register_signatures(app)
    register_blueprints(app)
    register_login(app)
    register_languages(app)
    register_error_handlers(app)
    register_cli(app)
    return app


class MachineSession(SecureCookieSession):
    """The session of a machine path: empty, never read from a cookie, never saved."""


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, for pages only.

    On machine paths (the API, the redirector, the pixel, health) there is no session: a
    browser's session cookie is not read, and nothing is saved, so no Set-Cookie nor
    Vary: Cookie is ever sent there. A page request that carries no session cookie gets an
    empty session without the signer being built (it costs more than the rest of the session
    handling).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_machine_path(request.path):
            return MachineSession()
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ  # no cookies to parse at all
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, MachineSession):
            return
        super().save_session(app, session, response)


def register_request_bodies(app: Flask) -> None:
    """Every request body is read in one place, at most MAX_CONTENT_LENGTH bytes of it."""
    from affiliates import bodies

    bodies.init_app(app)


def register_signatures(app: Flask) -> None:
    """Where signed requests' signatures are remembered: Redis with REDIS_URL, else the
    database."""
    from affiliates.services import used_signatures

    app.extensions["used_signatures"] = used_signatures.make(app.config["REDIS_URL"], db.engine)  # type: ignore[arg-type]


def register_blueprints(app: Flask) -> None:
    from affiliates.api import api
    from affiliates.api.openapi import docs
    from affiliates.health import health
    from tracking.views import tracking

    app.register_blueprint(tracking)
    app.register_blueprint(health)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(docs)


def register_login(app: Flask) -> None:
    """Flask-Login for the pages (the API keeps its bearer keys)."""
    from affiliates.extensions import login_manager

    login_manager.init_app(app)


def register_languages(app: Flask) -> None:
    """English and Russian pages through Flask-Babel."""
    from affiliates import i18n

    i18n.init_app(app)


def register_error_handlers(app: Flask) -> None:
    from affiliates.errors import register

    register(app)


def register_cli(app: Flask) -> None:
    from affiliates.cli import register

    register(app)
