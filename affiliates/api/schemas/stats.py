"""Stats: clicks, conversions and commission by period and grouping."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from affiliates.api.schemas.common import Input, Money
from affiliates.validation import Id, Moment


class StatsQuery(Input):
    model_config = ConfigDict(extra="ignore")
    partner_id: Id | None = None
    offer_id: Id | None = None
    from_: Moment | None = Field(None, alias="from")
    to: Moment | None = None
    group_by: (
        Literal["day", "link", "utm_campaign", "sub_id", "promo_code", "partner", "offer"] | None
    ) = None


class StatsFigures(BaseModel):
    clicks: int
    unique_clicks: int
    bot_clicks: int
    conversions: int
    sales_amount: Money
    commission_pending: Money
    commission_approved: Money
    commission_paid: Money
    conversion_rate: Decimal = Field(description="Conversions per counted click, 4 places.")
    epc: Money = Field(description="Earnings (commission) per counted click.")
    new_customers: int = Field(description="Counted conversions that brought a new customer.")
    cost_per_new_customer: Money | None = Field(
        description="Commission of those conversions / new customers: the effective CAC."
    )
    target_cac: Money | None = Field(
        description="The offer's target CAC, where one offer is meant."
    )


class StatsRow(StatsFigures):
    key: str | None = Field(
        description="The group's value. By utm_campaign or sub_id, `(other)` holds the clicks "
        "of the values past the rollups' cap in a link's hour (100 distinct combinations)."
    )


class StatsOut(BaseModel):
    totals: StatsFigures
    rows: list[StatsRow]
