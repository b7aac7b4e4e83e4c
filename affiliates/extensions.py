"""Extensions, created once and attached to the app in create_app."""

from affiliates.database import Database

db = Database()
