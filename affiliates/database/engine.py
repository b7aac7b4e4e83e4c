"""The engine (SQLite in WAL mode, or PostgreSQL through psycopg 3) and the request-scoped
session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from affiliates.database.sqlite import Checkpointer, set_pragmas, sqlite_file


def normalise_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3 whatever driver they name."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str) -> Engine:
    """Create an engine: SQLite in WAL mode with foreign keys, PostgreSQL via psycopg 3."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file database cannot restart under us, and the ping would cost a
        # statement per request.
        engine = create_engine(
            url,
            connect_args={"timeout": 10, "check_same_thread": False},
        )
        event.listen(engine, "connect", set_pragmas)
        if path is not None:
            checkpointer = Checkpointer(path)
            event.listen(engine, "connect", lambda *_: checkpointer.ensure_running())
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """The engine and a request-scoped session, attached to a Flask app with init_app."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory = sessionmaker(expire_on_commit=False)
        self._scoped: scoped_session[Session] = scoped_session(self.session_factory)

    @property
    def session(self) -> Session:
        """The session of the current thread (and so of the current request)."""
        return self._scoped()

    @property
    def lazy_session(self) -> scoped_session[Session]:
        """The current thread's session, made only when a statement is run through it."""
        return self._scoped

    def remove(self) -> None:
        """Close and forget the current thread's session."""
        self._scoped.remove()

    def init_app(self, app: Any) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.session_factory.configure(bind=self.engine)
        app.extensions["database"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.remove()
