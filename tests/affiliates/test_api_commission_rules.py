"""Commission rules over the API: publish, validate, list, version, deactivate, preview."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select

from affiliates.models import AuditEntry, CommissionRule, CommissionRuleVersion, Conversion
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, partner_key
from tests.helpers import T0, iso, sale

MONTH_START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"
NBSP = "\u00a0"
RULES = "/api/v1/commission-rules"
PREVIEW = "/api/v1/commission-rules/preview"
_orders = itertools.count()


pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def offer():
    return OfferFactory(target_cac=Decimal("80.00"))


@pytest.fixture
def partner():
    return PartnerFactory()


def create(client, headers, **fields):
    body = {"type": "sale", "kind": "percent", "value": "10.00", **fields}
    return client.post(RULES, json=body, headers=headers)


def created(client, headers, **fields) -> dict:
    response = create(client, headers, **fields)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def error_fields(response, status=422):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.get_json()["errors"]]


def preview(client, headers, offer, partner, **fields):
    body = {"offer_id": offer.id, "partner_id": partner.id, "amount": "1000.00", **fields}
    response = client.post(PREVIEW, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def add_conversion(session, offer, partner, at, *, type="sale", status="pending"):
    session.add(
        Conversion(
            offer_id=offer.id,
            type=type,
            order_id=f"o{next(_orders)}",
            amount=Decimal("100.00"),
            currency=offer.currency,
            partner_id=partner.id,
            status=status,
            occurred_at=at,
            hold_until=at + dt.timedelta(days=30),
        )
    )
    session.commit()


def audit_actions(session, rule_id):
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "commission_rule", AuditEntry.entity_id == rule_id)
        .order_by(AuditEntry.id)
    )
    return [entry.action for entry in entries]


# Creating ----------------------------------------------------------------------------------


def test_a_rule_is_published_as_version_one_with_money_as_strings(
    client, admin_headers, offer, partner
):
    rule = created(
        client,
        admin_headers,
        offer_id=offer.id,
        partner_id=partner.id,
        value="12.5",
        tiers=[{"min_conversions": 10, "value": "15"}],
        category="electronics",
        new_customers_only=True,
        min_order_amount="500",
        cap="300.00",
        priority=3,
        starts_at="2026-03-01T00:00:00+03:00",
        ends_at="2026-04-01T00:00:00Z",
    )
    assert isinstance(rule["id"], int)
    assert rule["version"] == 1
    assert rule["active"] is True
    assert (rule["offer_id"], rule["partner_id"]) == (offer.id, partner.id)
    assert (rule["type"], rule["kind"]) == ("sale", "percent")
    assert rule["value"] == "12.50"
    assert rule["tiers"] == [{"min_conversions": 10, "value": "15.00"}]
    assert rule["category"] == "electronics"
    assert rule["new_customers_only"] is True
    assert rule["min_order_amount"] == "500.00"
    assert rule["cap"] == "300.00"
    assert rule["priority"] == 3
    assert rule["starts_at"] == "2026-02-28T21:00:00Z"
    assert rule["ends_at"] == "2026-04-01T00:00:00Z"


def test_a_program_wide_rule_needs_only_type_kind_and_value(client, admin_headers):
    rule = created(client, admin_headers, kind="fixed", value="250")
    assert (rule["offer_id"], rule["partner_id"]) == (None, None)
    assert rule["value"] == "250.00"
    assert rule["tiers"] == []
    assert (rule["cap"], rule["min_order_amount"], rule["category"]) == (None, None, None)
    assert (rule["priority"], rule["new_customers_only"]) == (0, False)
    assert (rule["starts_at"], rule["ends_at"]) == (None, None)


def test_tiers_are_stored_in_threshold_order(client, admin_headers):
    tiers = [{"min_conversions": 50, "value": "20"}, {"min_conversions": 10, "value": "15"}]
    rule = created(client, admin_headers, tiers=tiers)
    assert [t["min_conversions"] for t in rule["tiers"]] == [10, 50]


def test_publishing_records_version_one_and_an_audit_entry(client, admin_headers, session):
    rule = created(client, admin_headers, kind="fixed", value="99.90")
    versions = session.scalars(
        select(CommissionRuleVersion).where(CommissionRuleVersion.rule_id == rule["id"])
    ).all()
    assert [(v.version, v.terms["value"], v.terms["active"]) for v in versions] == [
        (1, "99.90", True)
    ]
    assert audit_actions(session, rule["id"]) == ["created"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "commission_rule")).one()
    assert entry.before is None
    assert entry.after is not None and entry.after["kind"] == "fixed"


def _missing_offer(offer, partner):
    return {"offer_id": 2_000_000}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": "100.01"}, "value"),
        ({"value": "-1"}, "value"),
        ({"value": "1.001"}, "value"),
        ({"value": "ten"}, "value"),
        ({"value": True}, "value"),
        ({"value": None}, "value"),
        ({"kind": "fixed", "value": "1e20"}, "value"),
        ({"kind": "share"}, "kind"),
        ({"type": "refund"}, "type"),
        ({"type": None}, "type"),
        ({"priority": True}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"priority": 1001}, "priority"),
        ({"offer_id": True}, "offer_id"),
        ({"offer_id": "one"}, "offer_id"),
        ({"offer_id": 2_000_000}, "offer_id"),
        ({"partner_id": 2_000_000}, "partner_id"),
        ({"partner_id": False}, "partner_id"),
        ({"new_customers_only": "perhaps"}, "new_customers_only"),
        ({"new_customers_only": 2}, "new_customers_only"),
        ({"cap": "-0.01"}, "cap"),
        ({"cap": True}, "cap"),
        ({"min_order_amount": "lots"}, "min_order_amount"),
        ({"category": ""}, "category"),
        ({"category": 5}, "category"),
        ({"starts_at": "yesterday"}, "starts_at"),
        (
            {"starts_at": "2026-03-10T00:00:00Z", "ends_at": "2026-03-09T00:00:00Z"},
            "ends_at",
        ),
        (
            {"starts_at": "2026-03-10T00:00:00Z", "ends_at": "2026-03-10T03:00:00+03:00"},
            "ends_at",
        ),
        (
            {"tiers": [{"min_conversions": 5, "value": "1"}, {"min_conversions": 5, "value": "2"}]},
            "tiers",
        ),
        ({"tiers": [{"min_conversions": 5, "value": "101"}]}, "tiers"),
        ({"tiers": [{"min_conversions": True, "value": "1"}]}, "tiers.0.min_conversions"),
        ({"tiers": [{"min_conversions": -1, "value": "1"}]}, "tiers.0.min_conversions"),
        ({"tiers": [{"min_conversions": 1, "value": True}]}, "tiers.0.value"),
        ({"tiers": [{"min_conversions": 1}]}, "tiers.0.value"),
        ({"tiers": {"min_conversions": 1, "value": "1"}}, "tiers"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_field(client, admin_headers, session, fields, field):
    assert field in error_fields(create(client, admin_headers, **fields))
    assert session.scalar(select(CommissionRule.id)) is None


def test_a_rule_without_a_type_kind_or_value_is_refused(client, admin_headers):
    response = client.post(RULES, json={}, headers=admin_headers)
    assert {"type", "kind", "value"} <= set(error_fields(response))


def test_a_fixed_rule_may_exceed_one_hundred(client, admin_headers):
    assert created(client, admin_headers, kind="fixed", value="5000")["value"] == "5000.00"


# Reading ------------------------------------------------------------------------------------


def test_a_rule_is_read_by_id_and_an_unknown_id_is_404(client, admin_headers):
    rule = created(client, admin_headers)
    response = client.get(f"{RULES}/{rule['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == rule
    error_fields(client.get(f"{RULES}/{rule['id'] + 1000}", headers=admin_headers), 404)
    error_fields(client.patch(f"{RULES}/999999", json={}, headers=admin_headers), 404)
    error_fields(client.delete(f"{RULES}/999999", headers=admin_headers), 404)


def test_listing_by_offer_gives_that_offers_rules_and_the_program_wide_ones(client, admin_headers):
    mine, theirs = OfferFactory(), OfferFactory()
    own = created(client, admin_headers, offer_id=mine.id)["id"]
    everywhere = created(client, admin_headers)["id"]
    created(client, admin_headers, offer_id=theirs.id)
    response = client.get(RULES, query_string={"offer_id": mine.id}, headers=admin_headers)
    assert response.status_code == 200
    assert [r["id"] for r in response.get_json()["items"]] == [everywhere, own]
    everything = client.get(RULES, headers=admin_headers).get_json()["items"]
    assert len(everything) == 3


def test_the_list_pages_newest_first_with_a_cursor(client, admin_headers):
    ids = [created(client, admin_headers, priority=n)["id"] for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(RULES, query_string=query, headers=admin_headers).get_json()
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_a_cursor_this_api_did_not_give_out_is_refused(client, admin_headers):
    response = client.get(RULES, query_string={"cursor": "nonsense"}, headers=admin_headers)
    assert error_fields(response) == ["cursor"]


# Editing ------------------------------------------------------------------------------------


def test_an_edit_keeps_the_id_bumps_the_version_and_keeps_every_versions_terms(
    client, admin_headers, session, offer
):
    rule = created(client, admin_headers, offer_id=offer.id, value="10", cap="100")
    url = f"{RULES}/{rule['id']}"
    second = client.patch(url, json={"value": "12"}, headers=admin_headers)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert (second.get_json()["id"], second.get_json()["version"]) == (rule["id"], 2)
    assert second.get_json()["value"] == "12.00"
    assert second.get_json()["cap"] == "100.00"  # untouched fields stay
    third = client.patch(url, json={"cap": None, "priority": 4}, headers=admin_headers).get_json()
    assert (third["id"], third["version"], third["cap"], third["priority"]) == (
        rule["id"],
        3,
        None,
        4,
    )
    assert client.get(url, headers=admin_headers).get_json()["version"] == 3
    versions = session.scalars(
        select(CommissionRuleVersion)
        .where(CommissionRuleVersion.rule_id == rule["id"])
        .order_by(CommissionRuleVersion.version)
    ).all()
    assert [
        (v.version, v.terms["value"], v.terms["cap"], v.terms["priority"]) for v in versions
    ] == [
        (1, "10.00", "100.00", 0),
        (2, "12.00", "100.00", 0),
        (3, "12.00", None, 4),
    ]
    assert all(v.terms["offer_id"] == offer.id for v in versions)
    assert audit_actions(session, rule["id"]) == ["created", "edited", "edited"]
    edit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "edited").order_by(AuditEntry.id)
    ).first()
    assert edit is not None and edit.before is not None and edit.after is not None
    assert (edit.before["value"], edit.after["value"]) == ("10.00", "12.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "percent", "value": "150"}, "value"),
        ({"kind": "percent"}, "value"),
        ({"offer_id": 2_000_000}, "offer_id"),
        ({"partner_id": 2_000_000}, "partner_id"),
        ({"ends_at": "2026-02-01T00:00:00Z"}, "ends_at"),
        ({"type": None}, "type"),
        ({"kind": None}, "kind"),
        ({"value": None}, "value"),
        ({"priority": True}, "priority"),
        ({"priority": None}, "priority"),
        ({"new_customers_only": None}, "new_customers_only"),
        ({"tiers": None}, "tiers"),
        (
            {"tiers": [{"min_conversions": 3, "value": "1"}, {"min_conversions": 3, "value": "2"}]},
            "tiers",
        ),
        ({"version": 7}, "version"),
    ],
)
def test_an_invalid_edit_is_refused_and_changes_nothing(
    client, admin_headers, session, change, field
):
    fixed_500 = {"kind": "fixed", "value": "500", "starts_at": "2026-03-01T00:00:00Z"}
    rule = created(client, admin_headers, **fixed_500)
    response = client.patch(f"{RULES}/{rule['id']}", json=change, headers=admin_headers)
    assert field in error_fields(response)
    assert client.get(f"{RULES}/{rule['id']}", headers=admin_headers).get_json() == rule
    assert audit_actions(session, rule["id"]) == ["created"]


def test_an_edit_to_a_percent_rule_checks_its_tiers_against_one_hundred(client, admin_headers):
    tiers = [{"min_conversions": 5, "value": "500"}]
    rule = created(client, admin_headers, kind="fixed", value="50", tiers=tiers)
    response = client.patch(
        f"{RULES}/{rule['id']}", json={"kind": "percent"}, headers=admin_headers
    )
    assert "tiers" in error_fields(response)


# Deactivating ------------------------------------------------------------------------------


def test_deleting_deactivates_keeps_the_rule_and_its_history(client, admin_headers, session):
    rule = created(client, admin_headers)
    response = client.delete(f"{RULES}/{rule['id']}", headers=admin_headers)
    assert response.status_code == 200
    gone = response.get_json()
    assert (gone["id"], gone["active"], gone["version"]) == (rule["id"], False, 2)
    assert client.get(f"{RULES}/{rule['id']}", headers=admin_headers).get_json() == gone
    versions = session.scalars(
        select(CommissionRuleVersion)
        .where(CommissionRuleVersion.rule_id == rule["id"])
        .order_by(CommissionRuleVersion.version)
    ).all()
    assert [(v.version, v.terms["active"]) for v in versions] == [(1, True), (2, False)]
    assert audit_actions(session, rule["id"]) == ["created", "deactivated"]
    again = client.delete(f"{RULES}/{rule['id']}", headers=admin_headers)
    assert again.status_code == 200 and again.get_json()["version"] == 2
    assert audit_actions(session, rule["id"]) == ["created", "deactivated"]


def test_the_list_filters_by_active(client, admin_headers):
    kept = created(client, admin_headers)["id"]
    dropped = created(client, admin_headers)["id"]
    client.delete(f"{RULES}/{dropped}", headers=admin_headers)
    active = client.get(RULES, query_string={"active": "true"}, headers=admin_headers)
    inactive = client.get(RULES, query_string={"active": "false"}, headers=admin_headers)
    assert [r["id"] for r in active.get_json()["items"]] == [kept]
    assert [r["id"] for r in inactive.get_json()["items"]] == [dropped]


def test_a_deactivated_rule_no_longer_pays_in_preview(client, admin_headers, offer, partner):
    fallback = created(client, admin_headers, kind="fixed", value="50")
    better = created(client, admin_headers, offer_id=offer.id, priority=1)
    assert preview(client, admin_headers, offer, partner)["rule_id"] == better["id"]
    client.delete(f"{RULES}/{better['id']}", headers=admin_headers)
    result = preview(client, admin_headers, offer, partner)
    assert (result["rule_id"], result["commission"]) == (fallback["id"], "50.00")
    client.delete(f"{RULES}/{fallback['id']}", headers=admin_headers)
    result = preview(client, admin_headers, offer, partner)
    assert (result["rule_id"], result["rule_version"], result["commission"]) == (None, None, "0.00")


# Preview ------------------------------------------------------------------------------------


def test_preview_explains_the_issues_example(client, admin_headers, offer, partner):
    rule = created(client, admin_headers, offer_id=offer.id, category="electronics")
    items = [
        {"sku": "phone", "category": "electronics", "amount": "700.00"},
        {"sku": "case", "category": "electronics", "amount": "300.00"},
        {"sku": "novel", "category": "books", "amount": "500.00"},
    ]
    result = preview(
        client, admin_headers, offer, partner, amount="1500.00", items=items, new_customer=True
    )
    assert result == {
        "commission": "80.00",
        "rule_id": rule["id"],
        "rule_version": 1,
        "explanation": f"10% of 1{NBSP}000.00 RUB on 2 items in electronics = 100.00 RUB; "
        "capped at the target CAC 80.00 RUB",
    }
    returning = preview(
        client, admin_headers, offer, partner, amount="1500.00", items=items, new_customer=False
    )
    assert returning["commission"] == "100.00"


def test_preview_names_the_current_version_after_an_edit(client, admin_headers, offer, partner):
    rule = created(client, admin_headers, kind="fixed", value="10")
    client.patch(f"{RULES}/{rule['id']}", json={"value": "20"}, headers=admin_headers)
    result = preview(client, admin_headers, offer, partner)
    assert (result["rule_id"], result["rule_version"], result["commission"]) == (
        rule["id"],
        2,
        "20.00",
    )


def test_preview_prefers_a_partner_rule_to_an_offer_rule_on_a_tie(
    client, admin_headers, offer, partner
):
    created(client, admin_headers, offer_id=offer.id, kind="fixed", value="10")
    own = created(client, admin_headers, partner_id=partner.id, kind="fixed", value="30")
    created(client, admin_headers, partner_id=PartnerFactory().id, kind="fixed", value="99")
    result = preview(client, admin_headers, offer, partner)
    assert (result["rule_id"], result["commission"]) == (own["id"], "30.00")


def test_preview_prefers_the_newest_of_two_otherwise_equal_rules(
    client, admin_headers, offer, partner
):
    created(client, admin_headers, kind="fixed", value="10")
    newest = created(client, admin_headers, kind="fixed", value="20")
    assert preview(client, admin_headers, offer, partner)["rule_id"] == newest["id"]


def test_preview_ignores_another_offers_rule(client, admin_headers, offer, partner):
    created(client, admin_headers, offer_id=OfferFactory().id, kind="fixed", value="99")
    assert preview(client, admin_headers, offer, partner)["commission"] == "0.00"


def test_preview_uses_the_period_at_the_given_moment_or_now(client, admin_headers, offer, partner):
    period = {"starts_at": iso(T0), "ends_at": iso(T0 + dt.timedelta(days=1))}
    created(client, admin_headers, kind="fixed", value="10", **period)
    assert preview(client, admin_headers, offer, partner)["commission"] == "10.00"
    earlier = iso(T0 - dt.timedelta(seconds=1))
    assert preview(client, admin_headers, offer, partner, occurred_at=earlier)["commission"] == (
        "0.00"
    )


def test_preview_in_yen_rounds_to_whole_yen(client, admin_headers, partner):
    yen = OfferFactory(currency="JPY")
    created(client, admin_headers, value="12.5")
    result = preview(client, admin_headers, yen, partner, amount="1004")
    assert result["commission"] == "126.00"  # 125.5 -> 126, half up


TIERED = {
    "kind": "fixed",
    "value": "100",
    "tiers": [{"min_conversions": 2, "value": "150"}, {"min_conversions": 4, "value": "200"}],
}


def test_preview_tiers_count_only_the_partners_conversions_of_that_offer_and_type_this_month(
    client, admin_headers, session, offer, partner
):
    created(client, admin_headers, offer_id=offer.id, **TIERED)
    add_conversion(session, offer, partner, MONTH_START)  # counts: the month's first instant
    add_conversion(session, offer, partner, T0 - dt.timedelta(hours=1), status="approved")
    # none of these count
    add_conversion(session, offer, partner, T0 - dt.timedelta(hours=2), status="rejected")
    add_conversion(session, offer, partner, MONTH_START - dt.timedelta(microseconds=1))
    add_conversion(session, offer, partner, T0 + dt.timedelta(hours=1))
    add_conversion(session, offer, partner, T0 - dt.timedelta(hours=3), type="lead")
    add_conversion(session, OfferFactory(), partner, T0 - dt.timedelta(hours=4))
    add_conversion(session, offer, PartnerFactory(), T0 - dt.timedelta(hours=5))
    result = preview(client, admin_headers, offer, partner)
    assert result["commission"] == "150.00"
    assert result["explanation"] == (
        "fixed 150.00 RUB; tier for 2+ conversions this month (2 so far)"
    )


def test_preview_without_enough_conversions_pays_the_base_value(
    client, admin_headers, session, offer, partner
):
    created(client, admin_headers, offer_id=offer.id, **TIERED)
    add_conversion(session, offer, partner, T0 - dt.timedelta(days=1))
    add_conversion(session, offer, partner, T0 - dt.timedelta(days=2), status="rejected")
    assert preview(client, admin_headers, offer, partner)["commission"] == "100.00"


def test_preview_tiers_count_conversions_recorded_through_the_api(
    client, admin_headers, conversions_headers, offer, partner
):
    created(client, admin_headers, offer_id=offer.id, **TIERED)
    for n in range(4):
        body = sale(client, conversions_headers, offer, f"api-{n}", "100.00", partner=partner,
                    occurred_at=T0 - dt.timedelta(hours=n + 1))  # fmt: skip
        assert body["partner_id"] == partner.id
    assert preview(client, admin_headers, offer, partner)["commission"] == "200.00"


def test_preview_checks_the_offer_and_partner_exist(client, admin_headers, offer, partner):
    body = {"offer_id": 2_000_000, "partner_id": partner.id, "amount": "1"}
    assert error_fields(client.post(PREVIEW, json=body, headers=admin_headers)) == ["offer_id"]
    body = {"offer_id": offer.id, "partner_id": 2_000_000, "amount": "1"}
    assert error_fields(client.post(PREVIEW, json=body, headers=admin_headers)) == ["partner_id"]
    body = {"offer_id": offer.id, "partner_id": partner.id, "amount": True}
    assert error_fields(client.post(PREVIEW, json=body, headers=admin_headers)) == ["amount"]


# Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", RULES, {"type": "sale", "kind": "fixed", "value": "1"}),
        ("get", RULES, None),
        ("get", f"{RULES}/1", None),
        ("patch", f"{RULES}/1", {"value": "2"}),
        ("delete", f"{RULES}/1", None),
        ("post", PREVIEW, {"offer_id": 1, "partner_id": 1}),
    ],
)
def test_partner_and_conversions_keys_may_not_touch_rules(
    client, session, conversions_headers, partner, method, path, body
):
    for headers in (conversions_headers, bearer(partner_key(partner))):
        response = getattr(client, method)(path, json=body, headers=headers)
        error_fields(response, 403)
    assert session.scalar(select(CommissionRule.id)) is None


def test_rules_need_a_key(client):
    error_fields(client.get(RULES), 401)
