"""Commission rules, their preview, and simulating or recalculating them over a period."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

from affiliates.api.schemas.common import Input, ListQuery, Money, Output, Patch, Timestamp
from affiliates.money import ZERO
from affiliates.validation import Bool, Id, Int, ItemIn, Moment, MoneyIn, TimestampIn


class TierIn(Input):
    min_conversions: Int = Field(ge=0, le=1_000_000)
    value: MoneyIn


class TierOut(BaseModel):
    min_conversions: int
    value: Money


def _distinct_tiers(value: list[TierIn]) -> list[TierIn]:
    thresholds = [tier.min_conversions for tier in value]
    if len(set(thresholds)) != len(thresholds):
        raise ValueError("Each min_conversions may appear once.")
    return sorted(value, key=lambda tier: tier.min_conversions)


class RuleCreate(Input):
    offer_id: Id | None = None
    partner_id: Id | None = None
    type: Literal["sale", "lead"]
    kind: Literal["fixed", "percent"]
    value: MoneyIn = Field(description="An amount (fixed) or a percentage of the sale (percent).")
    tiers: list[TierIn] = Field(default_factory=list, max_length=50)
    category: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    new_customers_only: Bool = False
    min_order_amount: MoneyIn | None = None
    cap: MoneyIn | None = None
    priority: Int = Field(0, ge=-1000, le=1000)
    starts_at: TimestampIn | None = None
    ends_at: TimestampIn | None = None

    @field_validator("tiers")
    @classmethod
    def _distinct_tiers(cls, value: list[TierIn]) -> list[TierIn]:
        return _distinct_tiers(value)


class RuleUpdate(Patch):
    NULLABLE = frozenset(
        {"offer_id", "partner_id", "category", "min_order_amount", "cap", "starts_at", "ends_at"}
    )

    offer_id: Id | None = None
    partner_id: Id | None = None
    type: Literal["sale", "lead"] | None = None
    kind: Literal["fixed", "percent"] | None = None
    value: MoneyIn | None = None
    tiers: list[TierIn] | None = Field(None, max_length=50)
    category: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    new_customers_only: Bool | None = None
    min_order_amount: MoneyIn | None = None
    cap: MoneyIn | None = None
    priority: Int | None = Field(None, ge=-1000, le=1000)
    starts_at: TimestampIn | None = None
    ends_at: TimestampIn | None = None

    @field_validator("tiers")
    @classmethod
    def _distinct_tiers(cls, value: list[TierIn] | None) -> list[TierIn] | None:
        return None if value is None else _distinct_tiers(value)


class RuleOut(Output):
    id: int
    version: int
    active: bool
    offer_id: int | None
    partner_id: int | None
    type: str
    kind: str
    value: Money
    tiers: list[TierOut]
    category: str | None
    new_customers_only: bool
    min_order_amount: Money | None
    cap: Money | None
    priority: int
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class RuleQuery(ListQuery):
    offer_id: Id | None = None
    active: Bool | None = None


class PreviewIn(Input):
    offer_id: Id
    partner_id: Id
    type: Literal["sale", "lead"] = "sale"
    amount: MoneyIn = ZERO
    items: list[ItemIn] | None = Field(None, max_length=500)
    new_customer: Bool | None = None
    occurred_at: TimestampIn | None = None


class PreviewOut(BaseModel):
    commission: Money
    rule_id: int | None
    rule_version: int | None
    explanation: str


# Simulation and recalculation -------------------------------------------------------------


class SimulateIn(Input):
    offer_id: Id
    from_: Moment = Field(alias="from", description="A date or a timestamp (inclusive).")
    to: Moment = Field(description="A timestamp (exclusive), or a date (that whole day).")
    rules: list[RuleCreate] = Field(
        default_factory=list,
        max_length=50,
        description="Draft rules; the result calls them -1, -2, … in this order.",
    )
    replace: StrictBool = Field(
        True, description="Drafts stand instead of the offer's current rules (else beside them)."
    )


class SimulationFigures(BaseModel):
    conversions: int
    paid: Money = Field(description="What these conversions were given.")
    draft: Money = Field(description="What the rules simulated would pay on what remains.")
    difference: Money = Field(description="draft - paid")
    new_customers: int
    cost_per_new_customer_paid: Money | None
    cost_per_new_customer_draft: Money | None


class SimulationPartner(SimulationFigures):
    partner_id: int | None = Field(description="null: organic conversions (paid nothing).")


class SimulationOut(BaseModel):
    currency: str
    target_cac: Money | None
    totals: SimulationFigures
    partners: list[SimulationPartner]


class RecalculateIn(Input):
    offer_id: Id
    from_: Moment = Field(alias="from", description="A date or a timestamp (inclusive).")
    to: Moment = Field(description="A timestamp (exclusive), or a date (that whole day).")
    # strict: in lax mode "no", "off", "0" and 0 would all mean "write the changes"
    dry_run: StrictBool = Field(True, description="Report what would change; write nothing.")


class CommissionState(BaseModel):
    commission: Money
    rule_id: int | None
    rule_version: int | None


class RecalculatedConversion(BaseModel):
    id: int
    partner_id: int | None
    occurred_at: Timestamp
    before: CommissionState
    after: CommissionState
    explanation: str = Field(description="Why the current rules pay what they pay.")


class RecalculateOut(BaseModel):
    dry_run: bool
    changed: list[RecalculatedConversion]
    count: int
