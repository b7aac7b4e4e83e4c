"""Languages of the pages: English and Russian, through Flask-Babel's gettext.

Catalogues live in `affiliates/translations/`; the compiled `.mo` files are committed next
to their `.po` (a test holds them equal), so a clean clone serves Russian without a build
step. After changing a page's strings: `make messages`, translate, `make messages` again.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import get_locale

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
# The user's choice, once they make one (the coming language switch sets it). A cookie
# rather than the session: the session is cleared at login, the choice should outlive it.
LANG_COOKIE = "lang"


def select_locale() -> str:
    """The user's choice, else the browser's Accept-Language, else English."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the page being rendered ("en" or "ru")."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with our locale selector; templates get `current_language()`."""
    from affiliates.extensions import babel

    babel.init_app(app, default_locale=DEFAULT_LANGUAGE, locale_selector=select_locale)
    app.jinja_env.globals["current_language"] = current_language
