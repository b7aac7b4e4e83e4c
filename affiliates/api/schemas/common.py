"""What every resource's schemas share: the request and response bases, pages, list
queries, the problem body, and how money and timestamps are written out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from affiliates.validation import Cursor, Input, Int, utc


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


def _iso(value: dt.datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")


Money = Annotated[
    Decimal, PlainSerializer(_money_text, return_type=str), Field(examples=["1499.00"])
]
Timestamp = Annotated[dt.datetime, PlainSerializer(_iso, return_type=str)]


class Patch(Input):
    """A PATCH body: every field may be omitted, and only those named in `NULLABLE` may be
    null (null clears them). The OpenAPI document says so: a field that may not be null has
    no null in its schema and no default."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_null(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = set(cls.model_fields) - cls.NULLABLE
        nulls = [name for name, value in data.items() if value is None and name in fields]
        if nulls:
            error = PydanticCustomError("not_null", "May be omitted, but not null.")
            raise ValidationError.from_exception_data(
                cls.__name__, [{"type": error, "loc": (name,), "input": None} for name in nulls]
            )
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            if name in cls.NULLABLE:
                continue
            prop.pop("default", None)
            branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
            if "anyOf" in prop and len(branches) == 1:
                del prop["anyOf"]
                prop.update({**branches[0], **prop})
            elif "anyOf" in prop:
                prop["anyOf"] = branches
        return schema


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ListQuery(Input):
    model_config = ConfigDict(extra="ignore")
    limit: Int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class Problem(BaseModel):
    """application/problem+json"""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]
