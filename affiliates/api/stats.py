"""Stats (admin: any; partner key: its own, partner_id forced)."""

from __future__ import annotations

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import StatsOut, StatsQuery
from affiliates.exceptions import Invalid
from affiliates.extensions import db
from affiliates.services import stats as stats_service


@endpoint("/stats", summary="Program statistics", scopes=("partner",), query=StatsQuery,
          response=StatsOut)  # fmt: skip
def get_stats(principal: Principal, query: StatsQuery) -> StatsOut:
    """Clicks, unique and bot clicks, conversions and money, optionally grouped."""
    start, end = stats_service.period(query.from_, query.to)
    if start is not None and end is not None and end <= start:
        raise Invalid("to", "'to' must be after 'from'.")
    data = stats_service.stats(db.session, query.partner_id, query.offer_id, start, end,
                               query.group_by, principal.viewer)  # fmt: skip
    return StatsOut.model_validate(data)
