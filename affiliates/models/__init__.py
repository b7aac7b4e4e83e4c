"""Typed SQLAlchemy models, one module per domain."""

from affiliates.database import Base
from affiliates.models.accounts import ApiKey, UsedSignature, User
from affiliates.models.commissions import CommissionRule, CommissionRuleVersion
from affiliates.models.conversions import AuditEntry, Conversion, CustomerBinding, Refund
from affiliates.models.payouts import LedgerEntry, Payout, PayoutDetails
from affiliates.models.program import Offer, Partner
from affiliates.models.tracking import Click, ClickRollup, Link, PromoCode

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "Click",
    "ClickRollup",
    "CommissionRule",
    "CommissionRuleVersion",
    "Conversion",
    "CustomerBinding",
    "LedgerEntry",
    "Link",
    "Offer",
    "Partner",
    "Payout",
    "PayoutDetails",
    "PromoCode",
    "Refund",
    "UsedSignature",
    "User",
]
