"""Money's two constants, once: zero and the minor unit every amount is rounded to."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
