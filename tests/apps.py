"""A second application in the same process (other settings, or an unreachable database).

`affiliates.extensions.db` is one module-level object: `create_app` re-binds its engine and
session factory. `another_app` gives the suite's app its database back when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from affiliates import create_app
from affiliates.extensions import db


@contextmanager
def another_app(database_url: str, **overrides: Any) -> Iterator[Flask]:
    """An app like the suite's one, on `database_url`, with `overrides` applied."""
    engine = db.engine
    db.remove()
    application = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "BASE_URL": "https://go.example.com",
            **overrides,
        }
    )
    try:
        yield application
    finally:
        application.extensions["clicklog"].close()
        db.remove()
        db.engine.dispose()  # type: ignore[union-attr]
        db.engine = engine
        db.session_factory.configure(bind=engine)
