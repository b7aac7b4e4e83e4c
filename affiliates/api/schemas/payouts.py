"""The ledger, balances, payout runs and payouts, and a partner's payout details (the bodies
are defined in the domain, `affiliates.validation`; what the API shows is masked)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from affiliates.api.schemas.common import Input, ListQuery, Money, Output, Timestamp
from affiliates.validation import Currency, Id, Memo, PositiveMoneyIn, Reference, SignedMoneyIn


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


# Payout details as shown: card and account numbers and phones masked -----------------------


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


# Payouts ----------------------------------------------------------------------------------


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
    reason: Literal["no_payout_details", "partner_suspended"] = Field(
        description="`no_payout_details`: the partner has none yet; `partner_suspended`: "
        "paid again once reinstated."
    )


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


class LedgerEntryQuery(ListQuery):
    partner_id: Id | None = None
    currency: Currency | None = None
    kind: Literal["commission", "reversal", "adjustment"] | None = None
