"""What every resource's schemas share: the request and response bases, pages, list
queries, the problem body, and how money and timestamps are written out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from affiliates.validation import Input, Int, utc


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


def _iso(value: dt.datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")


Money = Annotated[
    Decimal, PlainSerializer(_money_text, return_type=str), Field(examples=["1499.00"])
]
Timestamp = Annotated[dt.datetime, PlainSerializer(_iso, return_type=str)]


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ListQuery(Input):
    model_config = ConfigDict(extra="ignore")
    limit: Int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200)


class Problem(BaseModel):
    """application/problem+json"""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]
