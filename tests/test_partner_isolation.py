"""A partner sees only its own objects on every route: another partner's answers 404.

The test walks every route in the URL map with two partners, Alpha and Beta, each with a
link and its clicks, a promo code, an approved conversion, payout details and a payout.
Alpha's key is sent at every route: a route naming one of Beta's objects answers 404 (or
403 where a partner key may not go at all, which says nothing of Beta); a list or report
never shows a trace of Beta, whatever filter Alpha asks for; and Beta's objects are as they
were afterwards. A route the walk cannot classify fails it, so no new route slips by.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from affiliates.api.core import ENDPOINTS
from affiliates.extensions import db
from affiliates.models import Link, PayoutDetails, PromoCode
from tests.conftest import bearer
from tests.factories import (
    LinkFactory,
    OfferFactory,
    PayablePartnerFactory,
    PromoCodeFactory,
    partner_key,
)
from tests.helpers import sale

# Routes for anyone: nothing in them belongs to a partner.
PUBLIC = {"/r/<code>", "/p/conversion.gif", "/healthz", "/api/v1/openapi.json", "/"}
# A body each write route accepts from its owner, so only ownership can refuse it.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/links/<int:link_id>"): {"utm_campaign": "alpha-wins"},
    ("PUT", "/partners/<int:partner_id>/payout-details"): {
        "method": "card", "holder_name": "Alpha", "card_number": "5555555555554444"},
    ("POST", "/links"): {"offer_id": 0, "partner_id": 0},
}  # fmt: skip
# Query variants a list or report is asked with, Beta's id filled in.
LIST_QUERIES = [
    "",
    "?partner_id={beta}",
    "?partner_id={beta}&limit=500",
    "?group_by=link&partner_id={beta}",
    "?group_by=promo_code&partner_id={beta}",
    "?group_by=sub_id&partner_id={beta}",
    "?group_by=utm_campaign&partner_id={beta}",
    "?group_by=partner",
    "?group_by=day&partner_id={beta}",
    "?status=approved&partner_id={beta}",
    "?kind=commission&currency=RUB&partner_id={beta}",
]


pytestmark = pytest.mark.usefixtures("clock")


def _world(client, admin_headers, offer, name: str) -> dict[str, Any]:
    """One partner's objects, every name and code carrying the partner's marker."""
    partner = PayablePartnerFactory(name=f"{name} Partner", email=f"{name}@example.com",
                                    ref_code=f"{name}ref")  # fmt: skip
    link = LinkFactory(partner=partner, offer=offer, code=f"{name}link",
                       utm_campaign=f"{name}campaign", sub_id=f"{name}sub")  # fmt: skip
    promo = PromoCodeFactory(partner=partner, offer=offer, code=f"{name.upper()}CODE")
    redirect = client.get(f"/r/{link.code}?sub_id={name}sub",
                          headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})  # fmt: skip
    assert redirect.status_code == 302
    conversion = sale(client, admin_headers, offer, f"{name}-order", "20000.00",
                      promo_code=promo.code, customer_id=f"{name}-customer")  # fmt: skip
    assert conversion["partner_id"] == partner.id, conversion
    approved = client.post(f"/api/v1/conversions/{conversion['id']}/approve", json={},
                           headers=admin_headers)  # fmt: skip
    assert approved.status_code == 200
    return {"partner": partner, "link": link, "promo": promo, "conversion": conversion}


@pytest.fixture
def worlds(client, admin_headers):
    offer = OfferFactory(name="Shared shop", slug="shared-shop")
    rule = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"}
    assert client.post("/api/v1/commission-rules", json=rule,
                       headers=admin_headers).status_code == 201  # fmt: skip
    alpha = _world(client, admin_headers, offer, "alpha")
    beta = _world(client, admin_headers, offer, "beta")
    payouts = client.post("/api/v1/payouts/run", json={"min_amount": "100.00"},
                          headers=admin_headers).json["items"]  # fmt: skip
    by_partner = {item["partner_id"]: item["id"] for item in payouts}
    alpha["payout_id"] = by_partner[alpha["partner"].id]
    beta["payout_id"] = by_partner[beta["partner"].id]
    return offer, alpha, beta


def _beta_values(offer, beta) -> dict[str, Any]:
    """What each path parameter is, for Beta's objects."""
    return {
        "partner_id": beta["partner"].id,
        "link_id": beta["link"].id,
        "conversion_id": beta["conversion"]["id"],
        "payout_id": beta["payout_id"],
        "code": beta["promo"].code,
        "rule_id": 1,
        "offer_id": offer.id,
    }


def _routes(app) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def _fill(rule: str, values: dict[str, Any]) -> str:
    path = rule
    for name, value in values.items():
        for converter in ("int:", "string:", ""):
            path = path.replace(f"<{converter}{name}>", str(value))
    assert "<" not in path, f"no value for a parameter of {rule}: extend _beta_values"
    return path


def _no_trace_of_beta(response) -> None:
    text = response.get_data(as_text=True).lower()
    assert "beta" not in text, (response.request.path, text[:500])


def _only_alphas_items(response, alpha_id: int) -> None:
    """Items carrying no name (ledger entries, say) still name their partner."""
    body = response.get_json(silent=True)
    items = body.get("items", []) if isinstance(body, dict) else []
    for item in items:
        assert item.get("partner_id", alpha_id) == alpha_id, (response.request.path, item)


def test_every_route_answers_another_partners_object_with_404_and_never_shows_it(
    app, client, admin_headers, worlds
):
    offer, alpha, beta = worlds
    headers = bearer(partner_key(alpha["partner"]))
    endpoints = {(endpoint.method, "/api/v1" + endpoint.rule): endpoint for endpoint in ENDPOINTS}
    values = _beta_values(offer, beta)
    BODIES[("POST", "/links")] = {"offer_id": offer.id, "partner_id": beta["partner"].id}
    checked = 0
    for rule, method in _routes(app):
        if rule in PUBLIC:
            continue
        endpoint = endpoints.get((method, rule))
        assert endpoint is not None, f"{method} {rule}: classify it in this test"
        path = _fill(rule, values)
        body = BODIES.get((method, endpoint.rule), {})
        response = client.open(path, method=method, json=body if method != "GET" else None,
                               headers=headers)  # fmt: skip
        if "partner" not in endpoint.scopes:
            assert response.status_code == 403, (method, path, response.status_code)
        elif "<" in rule:
            assert response.status_code == 404, (method, path, response.status_code)
        elif method == "GET":
            for query in LIST_QUERIES:
                listed = client.get(path + query.format(beta=beta["partner"].id),
                                    headers=headers)  # fmt: skip
                assert listed.status_code in (200, 404, 422), (path, query, listed.status_code)
                _no_trace_of_beta(listed)
                _only_alphas_items(listed, alpha["partner"].id)
        else:
            # a write naming Beta as the owner is refused as if Beta did not exist
            assert response.status_code == 404, (method, path, response.status_code)
        _no_trace_of_beta(response)
        checked += 1
    assert checked >= 40

    db.session.expire_all()
    link = db.session.get_one(Link, beta["link"].id)
    assert link.archived_at is None and link.utm_campaign == "betacampaign"
    details = db.session.scalar(
        select(PayoutDetails).where(PayoutDetails.partner_id == beta["partner"].id)
    )
    assert details is not None and details.card_number == "4111111111111111"
    links = db.session.scalars(select(Link).where(Link.partner_id == beta["partner"].id))
    assert [each.id for each in links] == [beta["link"].id]
    promo = db.session.get_one(PromoCode, beta["promo"].id)
    assert promo.uses == 1


def test_alphas_own_lists_do_show_alphas_objects(client, admin_headers, worlds):
    """The walk above would pass on empty answers: Alpha's own objects are there."""
    _offer, alpha, _beta = worlds
    headers = bearer(partner_key(alpha["partner"]))
    for path in ("/api/v1/links", "/api/v1/conversions", "/api/v1/payouts",
                 "/api/v1/promo-codes", "/api/v1/stats?group_by=promo_code"):  # fmt: skip
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert "alpha" in response.get_data(as_text=True).lower() or path.endswith("payouts")
    payouts = client.get("/api/v1/payouts", headers=headers).json["items"]
    assert [p["id"] for p in payouts] == [alpha["payout_id"]]
    entries = client.get("/api/v1/ledger-entries", headers=headers).json["items"]
    assert [(e["conversion_id"], e["payout_id"]) for e in entries] == [
        (alpha["conversion"]["id"], alpha["payout_id"])
    ]
    stats = client.get("/api/v1/stats", headers=headers).json["totals"]
    assert stats["clicks"] == 1 and stats["conversions"] == 1
    assert Decimal(stats["sales_amount"]) == Decimal("20000.00")
