"""Input models that code outside the API reads too: a conversion (the CSV import, the
pixel) and a partner's payout details (the demo, the coming settings page)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    RootModel,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from affiliates import banking
from affiliates.validation import checks
from affiliates.validation.errors import validation_errors
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
    PromoCodeText,
    Reference,
    TimestampIn,
    UtmValue,
)


class Input(BaseModel):
    """Requests: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)
    # True where the model refuses NUL in each text field itself (so an optional field
    # holding one can be dropped); elsewhere the API refuses a body with NUL anywhere.
    checks_nul: ClassVar[bool] = False


def _no_nul(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("Text may not contain NUL.")
    return value


# Conversions ----------------------------------------------------------------------------


class ItemIn(Input):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    quantity: Int = Field(1, ge=1, le=1_000_000)
    amount: MoneyIn = Field(description="The line's total.")

    _text = field_validator("sku", "category")(_no_nul)


class IntakeWarning(TypedDict):
    """An optional field the intake could not use: dropped, and the sale recorded without it."""

    field: str
    code: str  # "dropped"
    message: str


# What a conversion can do without. An optional field that cannot be used is dropped and
# named in `warnings`, so a sale is never lost over one (a customer's email at a `.local`
# domain, a mangled promo code, a timestamp from the future). The other fields say what was
# sold, for how much and in what money, and which order it is (the idempotency key): they
# stay strict, and a bad one is a 422.
OPTIONAL_FIELDS = (
    "customer_id", "customer_email", "click_id", "promo_code", "utm_source", "utm_campaign",
    "occurred_at", "new_customer", "items",
)  # fmt: skip
_DROPPED = {
    "occurred_at": "The server's time of receipt was used instead.",
    "items": "The conversion was recorded without its lines.",
}


def dropped(field: str, reason: str) -> IntakeWarning:
    """The warning for an optional field the intake dropped."""
    then = _DROPPED.get(field, "The conversion was recorded without it.")
    return {"field": field, "code": "dropped", "message": f"{reason.rstrip('.')}. {then}"}


def _optional_fields_take_anything(schema: dict[str, Any]) -> None:
    # What the server does, the schema says: an optional field takes any value, and one
    # that is not of the usable shape (the first choice) is dropped and named in `warnings`.
    for name in OPTIONAL_FIELDS:
        usable = schema["properties"][name]
        described = {key: usable.pop(key) for key in ("title", "default") if key in usable}
        schema["properties"][name] = {
            **described,
            "description": (usable.pop("description", "") + " An unusable value is dropped "
                            "and named in `warnings`; the sale is recorded without it."
                            ).strip(),
            "anyOf": [usable, {"description": "Anything else: dropped, with a warning."}],
        }  # fmt: skip


class ConversionCreate(Input):
    """A sale or lead. Optional fields that cannot be used are dropped, not refused: see
    `warnings` (pydantic's errors for them, in the contract's words)."""

    model_config = ConfigDict(json_schema_extra=_optional_fields_take_anything)

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
    promo_code: PromoCodeText | None = None
    utm_source: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    occurred_at: TimestampIn | None = None
    new_customer: StrictBool | None = None
    items: list[ItemIn] | None = Field(None, max_length=500)

    checks_nul: ClassVar[bool] = True
    _warnings: list[IntakeWarning] = PrivateAttr(default_factory=list)
    _text = field_validator("order_id", "customer_id", "customer_email", "click_id",
                            "promo_code", "utm_source", "utm_campaign")(_no_nul)  # fmt: skip

    @property
    def warnings(self) -> list[IntakeWarning]:
        """The optional fields dropped on the way in, each with why."""
        return self._warnings

    def intake(self) -> dict[str, Any]:
        """The values for `conversions.record`: the fields given, and the warnings."""
        return {**self.model_dump(exclude_none=True), "warnings": list(self._warnings)}

    @model_validator(mode="wrap")
    @classmethod
    def _drop_unusable(
        cls, data: Any, handler: ModelWrapValidatorHandler[ConversionCreate]
    ) -> ConversionCreate:
        # The fast path is one validation; only a refused optional field costs a second.
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            warnings: dict[str, IntakeWarning] = {}
            for error in validation_errors(exc):
                name = error["field"].split(".", 1)[0]
                if name in OPTIONAL_FIELDS and name in data and name not in warnings:
                    where = "" if error["field"] == name else f"{error['field']}: "
                    warnings[name] = dropped(name, where + error["message"])
            if not warnings:
                raise
            # a required field's error (if any) is raised from here, naming only it
            model = handler({key: value for key, value in data.items() if key not in warnings})
        model._warnings = [*warnings.values(), *model._warnings]
        return model

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
