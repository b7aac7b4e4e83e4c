"""Typed SQLAlchemy models, one module per domain."""

from affiliates.database import Base
from affiliates.models.accounts import ApiKey, User
from affiliates.models.program import Offer, Partner
from affiliates.models.tracking import Click, Link, PromoCode

__all__ = ["ApiKey", "Base", "Click", "Link", "Offer", "Partner", "PromoCode", "User"]
