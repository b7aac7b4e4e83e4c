"""The JSON API under /api/v1."""

from affiliates.api import links, openapi, program, promo_codes, stats  # noqa: F401 - routes
from affiliates.api.core import api

__all__ = ["api"]
