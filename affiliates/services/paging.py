"""Cursor paging for every list: newest first by id, a page and the cursor of the next.

A cursor is the last id of a page, in decimal (1 to the id column's maximum, so the OpenAPI
document can say exactly which cursors exist); new rows arriving between pages never shift
the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from affiliates.exceptions import DomainError, Invalid
from affiliates.validation.types import ID_TEXT

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")
_CURSOR = re.compile(ID_TEXT)


class BadCursor(DomainError):
    """A cursor no list gave out (or one tampered with)."""

    status = 422
    title = "Validation failed"

    def __init__(self) -> None:
        super().__init__(
            "The cursor is not one this API gave out.",
            [{"field": "cursor", "message": "Invalid cursor."}],
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first, and the cursor of the next (None on the last)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """The cursor of the page after the one ending at `last_id`."""
    return str(last_id)


def decode_cursor(cursor: str) -> int:
    """The last id of the page before; BadCursor for anything else (an empty cursor too)."""
    if not _CURSOR.fullmatch(cursor):
        raise BadCursor()
    return int(cursor)


def paginate(
    session: Session,
    stmt: Select[T],
    id_column: Any,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[T]:
    """Newest first by `id_column`: the page after `cursor` and the cursor of the next."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit", f"A page holds 1 to {MAX_LIMIT} items.")
    if cursor is not None:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return Page(rows[:limit], encode_cursor(getattr(rows[limit - 1], id_column.key)))
    return Page(rows, None)
