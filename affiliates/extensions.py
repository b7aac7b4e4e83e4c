"""Extensions, created once and attached to the app in create_app."""

from __future__ import annotations

from flask_babel import Babel

from affiliates.database import Database

db = Database()
babel = Babel()
