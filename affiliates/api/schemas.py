"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    RootModel,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from affiliates import banking
from affiliates.urls import UrlError, check_hostname, check_url

CURRENCIES = frozenset(list_currencies())
MAX_MONEY = Decimal("1000000000000")
MAX_ID = 2**31 - 1  # ids are INTEGER columns; PostgreSQL refuses a larger parameter
# Room for windows and holds of up to ten years either side without leaving datetime's range.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _timestamp(value: dt.datetime) -> dt.datetime:
    try:
        value = _utc(value)
    except OverflowError:
        raise ValueError("The timestamp is out of range.") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("Timestamps must fall between the years 1970 and 9000.")
    return value


def _date(value: dt.date) -> dt.date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("Dates must fall between the years 1970 and 9000.")
    return value


def _plain_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value  # "-0.00" is "0.00"


def _iso(value: dt.datetime) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Expected a number, not a boolean.")
    return value


def _url(value: str) -> str:
    try:
        return check_url(value)
    except UrlError as exc:
        raise ValueError(str(exc)) from None


def _hostname(value: str) -> str:
    try:
        return check_hostname(value)
    except UrlError as exc:
        raise ValueError(str(exc)) from None


def _currency(value: str) -> str:
    code = value.upper()
    if code not in CURRENCIES:
        raise ValueError("Not an ISO 4217 currency code.")
    return code


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_no_bool),
    Field(ge=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False, examples=["1499.00"]),
    AfterValidator(_plain_zero),
]
PositiveMoneyIn = Annotated[
    Decimal,
    BeforeValidator(_no_bool),
    Field(gt=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False, examples=["1499.00"]),
]
PercentIn = Annotated[
    Decimal,
    BeforeValidator(_no_bool),
    Field(ge=0, le=100, decimal_places=2, allow_inf_nan=False, examples=["15.00"]),
    AfterValidator(_plain_zero),
]
Money = Annotated[
    Decimal, PlainSerializer(_money_text, return_type=str), Field(examples=["1499.00"])
]
Timestamp = Annotated[dt.datetime, PlainSerializer(_iso, return_type=str)]
TimestampIn = Annotated[dt.datetime, AfterValidator(_timestamp)]
DateIn = Annotated[dt.date, AfterValidator(_date)]


def _date_or_instant(value: Any) -> Any:
    """A bare YYYY-MM-DD is a whole day; anything longer is an instant."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return dt.date.fromisoformat(value.strip())
    return value


# Period bounds: `from=2026-03-01&to=2026-03-31` covers both days whole.
Moment = Annotated[TimestampIn | DateIn, BeforeValidator(_date_or_instant)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_url)
]
Hostname = Annotated[str, StringConstraints(max_length=253), AfterValidator(_hostname)]
Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=3),
    AfterValidator(_currency),
]
UtmValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# JSON true is not 1: booleans are refused where an integer is expected.
Int = Annotated[int, BeforeValidator(_no_bool)]
Id = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_ID)]
Method = Literal["promo_code", "click", "utm", "customer"]
PartnerStatus = Literal["active", "pending", "suspended"]
PromoCodeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=64),
    AfterValidator(lambda v: _promo_code(v)),
]


def _promo_code(value: str) -> str:
    if not re.fullmatch(r"[^\W_][\w-]*", value):
        raise ValueError("Use letters, digits, '-' and '_' only, starting with a letter or digit.")
    if len(value.casefold()) > 64:  # the stored case-folded key is 64 characters at most
        raise ValueError("The code is too long.")
    return value


def _unique_methods(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("Each method may appear once.")
    return value


def _default_priority() -> list[Method]:
    return ["promo_code", "click", "utm", "customer"]


Priority = Annotated[
    list[Method], Field(min_length=1, max_length=4), AfterValidator(_unique_methods)
]


class Input(BaseModel):
    """Requests: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


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


# Offers ---------------------------------------------------------------------------------


class OfferCreate(Input):
    name: Name
    destination_url: Url
    allowed_domains: list[Hostname] | None = Field(None, max_length=50)
    currency: Currency = "RUB"
    attribution_window_days: Int = Field(30, ge=1, le=3650)
    hold_days: Int = Field(30, ge=0, le=3650)
    target_cac: MoneyIn | None = None
    max_discount_percent: PercentIn | None = None
    min_click_to_conversion_seconds: Int = Field(10, ge=0, le=86_400)
    require_click_for_code: bool = Field(
        False, description="Flag promo-code conversions with no click from the code's partner."
    )
    attribution_priority: Priority = Field(default_factory=lambda: _default_priority())


class OfferUpdate(Input):
    name: Name | None = None
    destination_url: Url | None = None
    allowed_domains: list[Hostname] | None = Field(None, min_length=1, max_length=50)
    currency: Currency | None = None
    attribution_window_days: Int | None = Field(None, ge=1, le=3650)
    hold_days: Int | None = Field(None, ge=0, le=3650)
    target_cac: MoneyIn | None = None
    max_discount_percent: PercentIn | None = None
    min_click_to_conversion_seconds: Int | None = Field(None, ge=0, le=86_400)
    require_click_for_code: bool | None = None
    attribution_priority: Priority | None = None
    status: Literal["active", "archived"] | None = None


class OfferOut(Output):
    id: int
    name: str
    slug: str
    destination_url: str
    allowed_domains: list[str]
    currency: str
    attribution_window_days: int
    hold_days: int
    target_cac: Money | None
    max_discount_percent: Money | None
    min_click_to_conversion_seconds: int
    require_click_for_code: bool
    attribution_priority: list[str]
    status: str
    created_at: Timestamp
    updated_at: Timestamp


# Partners -------------------------------------------------------------------------------


class PartnerCreate(Input):
    name: Name
    email: EmailStr = Field(max_length=320)
    password: str | None = Field(None, min_length=8, max_length=200)
    status: PartnerStatus = "active"


class PartnerUpdate(Input):
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


# Links ----------------------------------------------------------------------------------


class LinkCreate(Input):
    partner_id: Id | None = None
    offer_id: Id
    destination_url: Url | None = None
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_content: UtmValue | None = None
    utm_term: UtmValue | None = None
    sub_id: UtmValue | None = None


class LinkUpdate(Input):
    archived: bool | None = None
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_content: UtmValue | None = None
    utm_term: UtmValue | None = None
    sub_id: UtmValue | None = None


class LinkOut(Output):
    id: int
    code: str
    url: str
    destination_url: str
    partner_id: int
    offer_id: int
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    sub_id: str | None
    archived: bool
    created_at: Timestamp


class LinkQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None
    archived: bool | None = None


# Promo codes ----------------------------------------------------------------------------


class PromoCodeCreate(Input):
    code: PromoCodeText
    partner_id: Id
    offer_id: Id
    discount_type: Literal["percent", "amount"]
    discount_value: PositiveMoneyIn
    max_uses: Int | None = Field(None, ge=1, le=2**31 - 1)
    max_uses_per_customer: Int | None = Field(None, ge=1, le=2**31 - 1)
    min_order_amount: MoneyIn | None = None
    valid_from: TimestampIn | None = None
    valid_until: TimestampIn | None = None

    @field_validator("discount_value")
    @classmethod
    def _percent_at_most_100(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("discount_type") == "percent" and value > 100:
            raise ValueError("A percent discount cannot exceed 100.")
        return value

    @field_validator("valid_until")
    @classmethod
    def _ends_after_start(
        cls, value: dt.datetime | None, info: ValidationInfo
    ) -> dt.datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("valid_until must be after valid_from.")
        return value


class PromoCodeUpdate(Input):
    active: bool | None = None
    max_uses: Int | None = Field(None, ge=1, le=2**31 - 1)
    max_uses_per_customer: Int | None = Field(None, ge=1, le=2**31 - 1)
    min_order_amount: MoneyIn | None = None
    valid_from: TimestampIn | None = None
    valid_until: TimestampIn | None = None


class PromoCodeOut(Output):
    id: int
    code: str
    partner_id: int
    offer_id: int
    discount_type: str
    discount_value: Money
    max_uses: int | None
    uses: int
    max_uses_per_customer: int | None
    min_order_amount: Money | None
    valid_from: Timestamp | None
    valid_until: Timestamp | None
    active: bool
    created_at: Timestamp


class PromoCodeQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None


class PromoCheckQuery(Input):
    model_config = ConfigDict(extra="ignore")
    offer_id: Id | None = None
    amount: MoneyIn | None = None
    customer_id: str | None = Field(None, max_length=200)


class PromoCheckOut(BaseModel):
    code: str
    valid: bool
    reason: (
        Literal[
            "unknown", "inactive", "not_started", "expired", "exhausted", "min_order", "other_offer"
        ]
        | None
    )
    discount_type: str | None
    discount_value: Money | None
    discount: Money | None


# Stats ----------------------------------------------------------------------------------


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
    key: str | None


class StatsOut(BaseModel):
    totals: StatsFigures
    rows: list[StatsRow]


class Problem(BaseModel):
    """application/problem+json"""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]


# Conversions ----------------------------------------------------------------------------


class ItemIn(Input):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    quantity: Int = Field(1, ge=1, le=1_000_000)
    amount: MoneyIn = Field(description="The line's total.")


class ConversionCreate(Input):
    offer_id: Id
    type: Literal["sale", "lead"] = "sale"
    order_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    amount: MoneyIn | None = Field(None, description="Required for a sale.", validate_default=True)
    currency: Currency | None = None
    customer_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )
    customer_email: EmailStr | None = Field(None, max_length=320)
    click_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    promo_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = (
        None
    )
    utm_source: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    occurred_at: TimestampIn | None = None
    new_customer: bool | None = None
    items: list[ItemIn] | None = Field(None, max_length=500)

    @field_validator("amount")
    @classmethod
    def _sale_has_amount(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None and info.data.get("type", "sale") == "sale":
            raise ValueError("A sale needs an amount.")
        return value

    @field_validator("items")
    @classmethod
    def _items_within_amount(
        cls, value: list[ItemIn] | None, info: ValidationInfo
    ) -> list[ItemIn] | None:
        amount = info.data.get("amount")
        if value and amount is not None:
            if sum((item.amount for item in value), Decimal(0)) > amount:
                raise ValueError("The lines add up to more than the amount.")
        return value


class ConversionOut(Output):
    id: int
    offer_id: int
    type: str
    order_id: str
    amount: Money
    refunded_amount: Money
    currency: str
    status: str
    partner_id: int | None
    attribution: str | None
    commission: Money
    rule_id: int | None
    rule_version: int | None
    hold_until: Timestamp
    occurred_at: Timestamp
    reason: str | None
    flags: list[str]
    explanation: list[str]
    source: str
    created_at: Timestamp


class ConversionQuery(ListQuery):
    partner_id: Id | None = None
    offer_id: Id | None = None
    status: Literal["pending", "approved", "rejected", "reversed"] | None = None
    from_: Moment | None = Field(None, alias="from")
    to: Moment | None = None


class RefundIn(Input):
    amount: PositiveMoneyIn | None = Field(None, description="Omit for a full refund.")


class RejectIn(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ApproveIn(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


# Commission rules -----------------------------------------------------------------------


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
    new_customers_only: bool = False
    min_order_amount: MoneyIn | None = None
    cap: MoneyIn | None = None
    priority: Int = Field(0, ge=-1000, le=1000)
    starts_at: TimestampIn | None = None
    ends_at: TimestampIn | None = None

    @field_validator("tiers")
    @classmethod
    def _distinct_tiers(cls, value: list[TierIn]) -> list[TierIn]:
        return _distinct_tiers(value)


class RuleUpdate(Input):
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
    new_customers_only: bool | None = None
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
    active: bool | None = None


class PreviewIn(Input):
    offer_id: Id
    partner_id: Id
    type: Literal["sale", "lead"] = "sale"
    amount: MoneyIn = Decimal("0.00")
    items: list[ItemIn] | None = Field(None, max_length=500)
    new_customer: bool | None = None
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


# Ledger and payouts -----------------------------------------------------------------------

SignedMoneyIn = Annotated[
    Decimal,
    BeforeValidator(_no_bool),
    Field(ge=-MAX_MONEY, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False,
          examples=["-250.00"]),
    AfterValidator(_plain_zero),
]  # fmt: skip
Memo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class AdjustmentIn(Input):
    amount: SignedMoneyIn = Field(description="Positive credits the partner; negative debits.")
    currency: Currency = "RUB"
    memo: Memo


class LedgerEntryOut(Output):
    id: int
    partner_id: int
    currency: str
    amount: Money
    kind: str
    conversion_id: int | None
    payout_id: int | None
    memo: str | None
    created_at: Timestamp
    actor: str


class BalanceFigures(BaseModel):
    unpaid: Money = Field(description="In no payout yet: what the next payout run settles.")
    in_payout: Money = Field(description="Claimed by a pending payout.")
    paid: Money = Field(description="In payouts marked paid.")


class BalanceOut(BaseModel):
    partner_id: int
    balances: dict[str, BalanceFigures] = Field(description="Per currency.")


class PayoutRunIn(Input):
    currency: Currency | None = None
    min_amount: PositiveMoneyIn | None = Field(
        None, description="The threshold; the configured PAYOUT_MIN_AMOUNT when omitted."
    )


# Payout details: a body per method, told apart by `method` -------------------------------

# Numbers are read as printed ("4276 3800 1234 5678"); the checks normalise them to digits.
_NUMBER = StringConstraints(max_length=64)
AccountNumber = Annotated[str, _NUMBER, AfterValidator(banking.account_number)]
Bic = Annotated[str, _NUMBER, AfterValidator(banking.bic)]
Inn = Annotated[str, _NUMBER, AfterValidator(banking.inn)]
CardNumber = Annotated[str, _NUMBER, AfterValidator(banking.card_number)]
Phone = Annotated[str, _NUMBER, AfterValidator(banking.phone)]


class BankTransferIn(Input):
    """A transfer to a Russian bank account."""

    method: Literal["bank_transfer"]
    holder_name: Name = Field(description="The account holder, as the bank knows them.")
    bank_name: Name
    bic: Bic = Field(description="9 digits, starting with 04.", examples=["044525225"])
    # after `bic`: the account's control key is checked against it
    account_number: AccountNumber = Field(
        description="20 digits; its control key must agree with the BIC.",
        examples=["40817810300000123456"],
    )
    correspondent_account: AccountNumber | None = Field(
        None, description="The bank's 20-digit account (30101…), checked against the BIC."
    )
    inn: Inn | None = Field(None, description="10 digits (an organisation) or 12 (a person).")

    @field_validator("account_number")
    @classmethod
    def _account_matches_bic(cls, value: str, info: ValidationInfo) -> str:
        bank_bic = info.data.get("bic")
        if bank_bic is not None and not banking.account_matches_bic(value, bank_bic):
            raise ValueError("The account number does not agree with the BIC (its control "
                             "key): check both for a typo.")  # fmt: skip
        return value

    @field_validator("correspondent_account")
    @classmethod
    def _correspondent_matches_bic(cls, value: str | None, info: ValidationInfo) -> str | None:
        bank_bic = info.data.get("bic")
        if value is not None and bank_bic is not None:
            if not banking.correspondent_matches_bic(value, bank_bic):
                raise ValueError("Not the correspondent account of this BIC's bank: that one "
                                 "starts with 30101 and ends with the BIC's last three "
                                 "digits.")  # fmt: skip
        return value


class CardIn(Input):
    """A transfer to a payment card."""

    method: Literal["card"]
    holder_name: Name
    card_number: CardNumber = Field(
        description="13 to 19 digits, Luhn-checked.", examples=["2200 7000 0000 0009"]
    )


class SbpIn(Input):
    """A transfer through SBP, Russia's Faster Payments System, to a mobile number."""

    method: Literal["sbp"]
    holder_name: Name
    bank_name: Name = Field(description="The bank SBP should pay into.")
    phone: Phone = Field(
        description="A Russian mobile number; stored as +7XXXXXXXXXX.",
        examples=["8 (912) 345-67-89"],
    )


PAYOUT_DETAILS_BODIES: dict[str, type[Input]] = {
    "bank_transfer": BankTransferIn,
    "card": CardIn,
    "sbp": SbpIn,
}


PayoutDetailsBody = Annotated[BankTransferIn | CardIn | SbpIn, Field(discriminator="method")]


class PayoutDetailsIn(RootModel[PayoutDetailsBody]):
    """The body of `PUT /partners/{id}/payout-details`: one method and its fields."""

    @model_validator(mode="before")
    @classmethod
    def _by_method(cls, data: Any) -> Any:
        # Validate with the method's own model here, so errors name plain fields
        # ("card_number", not "card.card_number") and an unknown method names "method".
        if not isinstance(data, dict):
            return data
        method = data.get("method")
        model = PAYOUT_DETAILS_BODIES.get(method) if isinstance(method, str) else None
        if model is None:
            error = PydanticCustomError("payout_method", "Use one of: {methods}.",
                                        {"methods": ", ".join(banking.METHODS)})  # fmt: skip
            raise ValidationError.from_exception_data(
                cls.__name__, [{"type": error, "loc": ("method",), "input": method}]
            )
        return model.model_validate(data)


class BankTransferShown(BaseModel):
    method: Literal["bank_transfer"]
    holder_name: str
    bank_name: str
    bic: str
    account_number_masked: str = Field(description="The last 4 digits only.")
    correspondent_account: str | None
    inn: str | None


class CardShown(BaseModel):
    method: Literal["card"]
    holder_name: str
    card_number_masked: str = Field(description="The last 4 digits only.")


class SbpShown(BaseModel):
    method: Literal["sbp"]
    holder_name: str
    bank_name: str
    phone_masked: str = Field(description="The last 4 digits only.")


MaskedDetails = Annotated[BankTransferShown | CardShown | SbpShown, Field(discriminator="method")]


class _PartnersDetails(BaseModel):
    partner_id: int
    updated_at: Timestamp


class BankTransferOut(BankTransferShown, _PartnersDetails):
    pass


class CardOut(CardShown, _PartnersDetails):
    pass


class SbpOut(SbpShown, _PartnersDetails):
    pass


PartnersDetails = Annotated[BankTransferOut | CardOut | SbpOut, Field(discriminator="method")]


class PayoutDetailsOut(RootModel[PartnersDetails]):
    """A partner's payout details; card and account numbers and phones masked."""


class PayoutOut(Output):
    id: int
    partner_id: int
    amount: Money
    currency: str
    status: str
    conversion_count: int
    reference: str | None = None
    reason: str | None = None
    created_at: Timestamp | None = None
    paid_at: Timestamp | None = None
    payout_details: MaskedDetails | None = Field(
        None,
        description="The partner's payout details when the payout was made, masked; null on "
        "payouts made before details were recorded.",
    )


class SkippedOut(BaseModel):
    partner_id: int
    currency: str
    amount: Money = Field(description="The balance that waits for the next run.")
    reason: Literal["no_payout_details"]


class PayoutRunOut(BaseModel):
    items: list[PayoutOut]
    skipped: list[SkippedOut] = Field(
        default_factory=list,
        description="Partners over the threshold that were not paid, and why.",
    )


class PayoutDetailOut(PayoutOut):
    entries: list[LedgerEntryOut] = Field(description="The statement: what this payout pays.")


class PayoutQuery(ListQuery):
    partner_id: Id | None = None
    status: Literal["pending", "paid", "failed"] | None = None


class PayoutExportQuery(Input):
    model_config = ConfigDict(extra="ignore")
    status: Literal["pending", "paid", "failed"] = "pending"


class MarkPaidIn(Input):
    reference: Reference


class MarkFailedIn(Input):
    reason: Reference


# Ledger entries and the audit trail (lists) ----------------------------------------------


class LedgerEntryQuery(ListQuery):
    partner_id: Id | None = None
    currency: Currency | None = None
    kind: Literal["commission", "reversal", "adjustment"] | None = None


class AuditEntryQuery(ListQuery):
    entity: str | None = Field(
        None, max_length=32, description="`conversion`, `payout`, `ledger_entry`, …"
    )
    entity_id: Id | None = None
    actor: str | None = Field(None, max_length=200, examples=["api-key:1:admin", "cli"])


class AuditEntryOut(Output):
    id: int
    entity: str
    entity_id: int
    action: str
    actor: str
    at: Timestamp
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
