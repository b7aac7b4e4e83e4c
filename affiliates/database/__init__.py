"""The database, by concern: column types and the declarative base (`types`), the engine
and the request's session (`engine`), and SQLite's specifics (`sqlite`)."""

from affiliates.database.engine import Database, make_engine, normalise_url
from affiliates.database.sqlite import (
    WAL_BACKSTOP_PAGES,
    Checkpointer,
    HeldConnections,
    WriterQueue,
    sqlite_file,
    sqlite_timestamp,
)
from affiliates.database.types import NAMING_CONVENTION, Base, Money, Percent, UTCDateTime, utcnow

__all__ = [
    "NAMING_CONVENTION",
    "WAL_BACKSTOP_PAGES",
    "Base",
    "Checkpointer",
    "Database",
    "HeldConnections",
    "Money",
    "Percent",
    "UTCDateTime",
    "WriterQueue",
    "make_engine",
    "normalise_url",
    "sqlite_file",
    "sqlite_timestamp",
    "utcnow",
]
