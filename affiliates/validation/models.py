"""Input models that code outside the API reads too: a conversion (the CSV import, the
pixel) and a partner's payout details (the demo, the coming settings page)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    RootModel,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from affiliates import banking
from affiliates.validation import checks
from affiliates.validation.types import (
    AccountNumber,
    Bic,
    CardNumber,
    Currency,
    Id,
    Inn,
    Int,
    MoneyIn,
    Name,
    Phone,
    PositiveMoneyIn,
    Reference,
    TimestampIn,
    UtmValue,
)


class Input(BaseModel):
    """Requests: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


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


class RefundCreate(Input):
    """A refund of a recorded conversion, as the API's refund route reads it."""

    amount: PositiveMoneyIn | None = Field(None, description="Omit to refund what remains.")
    refund_id: Reference | None = Field(
        None,
        description="The merchant's own refund reference, unique per conversion: a repeat "
        "with the same amount answers 200 with the first answer and changes nothing; with "
        "another amount, 409. Send one, so a retried refund is never applied twice.",
    )


class RefundRow(RefundCreate):
    """A `type=refund` row of the CSV import: it names its sale by `order_id` and must
    carry a `refund_id`, so importing the file again refunds nothing more."""

    type: Literal["refund"]
    order_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    refund_id: Reference


# Payout details: a body per method, told apart by `method` -------------------------------


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
        return value if bank_bic is None else checks.account_for_bic(value, bank_bic)

    @field_validator("correspondent_account")
    @classmethod
    def _correspondent_matches_bic(cls, value: str | None, info: ValidationInfo) -> str | None:
        bank_bic = info.data.get("bic")
        if value is None or bank_bic is None:
            return value
        return checks.correspondent_for_bic(value, bank_bic)


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
