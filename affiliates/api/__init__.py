"""The JSON API under /api/v1."""

from affiliates.api import (  # noqa: F401 - importing registers the routes
    audit,
    commission_rules,
    conversions,
    links,
    openapi,
    payouts,
    program,
    promo_codes,
    stats,
)
from affiliates.api.core import api

__all__ = ["api"]
