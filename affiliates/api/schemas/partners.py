"""Partners and their API keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from affiliates.api.schemas.common import Input, ListQuery, Output, Patch, Timestamp
from affiliates.validation import Name

PartnerStatus = Literal["active", "pending", "suspended"]


class PartnerCreate(Input):
    name: Name
    email: EmailStr = Field(max_length=320)
    password: str | None = Field(None, min_length=8, max_length=200)
    status: PartnerStatus = "active"


class PartnerUpdate(Patch):
    name: Name | None = None
    email: EmailStr | None = Field(None, max_length=320)
    password: str | None = Field(None, min_length=8, max_length=200)
    status: PartnerStatus | None = None


class PartnerOut(Output):
    id: int
    name: str
    email: str
    ref_code: str
    status: str
    created_at: Timestamp
    updated_at: Timestamp


class PartnerQuery(ListQuery):
    status: PartnerStatus | None = None


class ApiKeyCreate(Input):
    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    key: str
    scope: str
    partner_id: int | None
