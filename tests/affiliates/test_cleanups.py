"""Item 7 of the seams issue: one list of statuses, and the page size taken from settings."""

from __future__ import annotations

from typing import get_args

from affiliates.api import schemas
from affiliates.models.statuses import ConversionStatus, PartnerStatus, PayoutStatus
from tests.apps import another_app
from tests.conftest import bearer
from tests.factories import PartnerFactory


def test_the_api_names_exactly_the_statuses_the_models_know() -> None:
    conversion = schemas.ConversionQuery.model_fields["status"].annotation
    payout = schemas.PayoutQuery.model_fields["status"].annotation
    assert set(get_args(get_args(conversion)[0])) == set(ConversionStatus)
    assert set(get_args(get_args(payout)[0])) == set(PayoutStatus)
    assert set(get_args(schemas.PartnerStatus)) == set(PartnerStatus)


def test_a_new_conversion_starts_pending_and_a_status_reads_as_its_text(session) -> None:
    partner = PartnerFactory()
    assert partner.status == "active" == PartnerStatus.ACTIVE
    assert f"{ConversionStatus.REVERSED}" == "reversed"


def test_lists_take_their_default_page_size_from_api_page_limit(database_url) -> None:
    from affiliates.extensions import db
    from affiliates.services import api_keys

    with another_app(database_url, API_PAGE_LIMIT=2, API_MAX_PAGE_LIMIT=3) as app:
        with app.app_context():
            for _ in range(4):
                PartnerFactory()
            key = api_keys.issue(db.session, "admin", name="t")
            client = app.test_client()
            page = client.get("/api/v1/partners", headers=bearer(key)).get_json()
            assert len(page["items"]) == 2 and page["next_cursor"]
            assert (
                len(client.get("/api/v1/partners?limit=3", headers=bearer(key)).get_json()["items"])
                == 3
            )
            over = client.get("/api/v1/partners?limit=4", headers=bearer(key))
            assert over.status_code == 422
            assert over.get_json()["errors"] == [{"field": "limit", "message": "At most 3."}]
