"""The states a record moves through, once each: models, services and schemas name these."""

from __future__ import annotations

from enum import StrEnum


class ConversionStatus(StrEnum):
    """A conversion waits on hold (`pending`), then pays (`approved`) or does not."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVERSED = "reversed"


# Closed conversions earn nothing and take no promo-code use.
CLOSED = (ConversionStatus.REJECTED, ConversionStatus.REVERSED)


class PartnerStatus(StrEnum):
    """A partner applies (`pending`), works (`active`) or is stopped (`suspended`)."""

    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"


class OfferStatus(StrEnum):
    """An offer takes new links while `active`."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class PixelTrust(StrEnum):
    """How far an offer trusts its pixel: not at all, after review or a postback, fully."""

    OFF = "off"
    REVIEW = "review"
    ON = "on"


# The flag of a pixel conversion waiting for staff or for the server's postback.
PIXEL_UNVERIFIED = "pixel_unverified"


class PayoutStatus(StrEnum):
    """A payout is made `pending` and settled by the bank's answer."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class LedgerKind(StrEnum):
    """What a ledger entry records."""

    COMMISSION = "commission"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
