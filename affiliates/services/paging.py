"""Cursor paging for every list: newest first by id, a page and the cursor of the next.

A cursor is the last id of a page, base64-encoded; new rows arriving between pages never
shift the next one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from affiliates.exceptions import DomainError, Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")


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
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the page before; BadCursor for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit() or len(value) > 18:
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeError):
        raise BadCursor() from None


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
    if cursor:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return Page(rows[:limit], encode_cursor(getattr(rows[limit - 1], id_column.key)))
    return Page(rows, None)
