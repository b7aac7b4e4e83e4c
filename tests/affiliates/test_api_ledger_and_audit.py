"""GET /api/v1/ledger-entries (admin: any partner; partner key: its own) and
GET /api/v1/audit-entries (admin only): filtered, cursor-paged, newest first.

A partner key's `?partner_id=` names its own partner whatever it says, as on every other
list: asking for another partner's ledger answers the key's own entries, never a 404 that
would tell that partner exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, partner_key

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
LEDGER = "/api/v1/ledger-entries"
AUDIT = "/api/v1/audit-entries"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def clock(app, monkeypatch):
    monkeypatch.setitem(app.extensions, "clock", lambda: T0)


def _approved_sale(client, headers, offer, partner, order_id: str) -> dict[str, Any]:
    body = {"offer_id": offer.id, "order_id": order_id, "amount": "1000.00",
            "utm_source": partner.ref_code}  # fmt: skip
    conversion = client.post("/api/v1/conversions", json=body, headers=headers).json
    approved = client.post(f"/api/v1/conversions/{conversion['id']}/approve", json={},
                           headers=headers)  # fmt: skip
    assert approved.status_code == 200, approved.json
    return approved.json


@pytest.fixture
def program(client, admin_headers):
    offer = OfferFactory()
    alpha, beta = PartnerFactory(), PartnerFactory()
    rule = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10"}
    assert client.post("/api/v1/commission-rules", json=rule,
                       headers=admin_headers).status_code == 201  # fmt: skip
    sales = {
        partner.id: [_approved_sale(client, admin_headers, offer, partner, f"{partner.id}-{n}")
                     for n in range(2)]
        for partner in (alpha, beta)
    }  # fmt: skip
    adjustment = {"amount": "-5.00", "currency": "USD", "memo": "a correction"}
    assert client.post(f"/api/v1/partners/{beta.id}/adjustments", json=adjustment,
                       headers=admin_headers).status_code == 201  # fmt: skip
    return offer, alpha, beta, sales


def _items(client, path, headers, **query) -> list[dict[str, Any]]:
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.json) == {"items", "next_cursor"}
    return response.json["items"]


def _fields(response) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return [error["field"] for error in response.json["errors"]]


# Ledger entries ----------------------------------------------------------------------------


def test_admin_lists_every_ledger_entry_newest_first(client, admin_headers, program):
    _offer, alpha, beta, _sales = program
    items = _items(client, LEDGER, admin_headers)
    assert [item["id"] for item in items] == sorted((i["id"] for i in items), reverse=True)
    assert {item["partner_id"] for item in items} == {alpha.id, beta.id}
    assert len(items) == 5
    first = items[0]
    assert set(first) == {"id", "partner_id", "currency", "amount", "kind", "conversion_id",
                          "payout_id", "memo", "created_at", "actor"}  # fmt: skip
    assert first == {**first, "partner_id": beta.id, "currency": "USD", "amount": "-5.00",
                     "kind": "adjustment", "memo": "a correction"}  # fmt: skip


def test_admin_filters_ledger_entries_by_partner_currency_and_kind(client, admin_headers, program):
    _offer, alpha, beta, sales = program
    alphas = _items(client, LEDGER, admin_headers, partner_id=alpha.id)
    assert {item["conversion_id"] for item in alphas} == {c["id"] for c in sales[alpha.id]}
    assert [i["kind"] for i in _items(client, LEDGER, admin_headers, currency="usd")] == [
        "adjustment"
    ]
    commissions = _items(client, LEDGER, admin_headers, partner_id=beta.id, kind="commission",
                         currency="RUB")  # fmt: skip
    assert {item["amount"] for item in commissions} == {"100.00"}
    assert len(commissions) == 2


def test_a_partner_key_lists_only_its_own_ledger_entries(client, program):
    _offer, alpha, _beta, sales = program
    items = _items(client, LEDGER, bearer(partner_key(alpha)))
    assert {item["partner_id"] for item in items} == {alpha.id}
    assert {item["conversion_id"] for item in items} == {c["id"] for c in sales[alpha.id]}


def test_a_partner_key_asking_for_another_partners_ledger_gets_its_own_entries(client, program):
    _offer, alpha, beta, _sales = program
    headers = bearer(partner_key(alpha))
    own = _items(client, LEDGER, headers)
    assert _items(client, LEDGER, headers, partner_id=beta.id) == own
    assert _items(client, LEDGER, headers, partner_id=beta.id, currency="USD") == []


def test_a_conversions_key_may_not_read_the_ledger(client, conversions_headers, program):
    response = client.get(LEDGER, headers=conversions_headers)
    assert response.status_code == 403 and response.mimetype == PROBLEM


def test_ledger_entries_page_through_cursors_without_gaps_or_repeats(
    client, admin_headers, program
):
    everything = [item["id"] for item in _items(client, LEDGER, admin_headers)]
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get(LEDGER, query_string=query, headers=admin_headers).json
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "bonus"}, "kind"),
        ({"currency": "XYZ"}, "currency"),
        ({"partner_id": str(2**31)}, "partner_id"),
        ({"partner_id": "0"}, "partner_id"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"limit": "501"}, "limit"),
    ],
)
def test_a_bad_ledger_query_is_422_naming_the_field(client, admin_headers, query, field):
    assert _fields(client.get(LEDGER, query_string=query, headers=admin_headers)) == [field]


# Audit entries -----------------------------------------------------------------------------


def test_admin_lists_audit_entries_newest_first(client, admin_headers, program):
    items = _items(client, AUDIT, admin_headers, limit=500)
    assert [item["id"] for item in items] == sorted((i["id"] for i in items), reverse=True)
    assert set(items[0]) == {"id", "entity", "entity_id", "action", "actor", "at", "before",
                             "after", "reason"}  # fmt: skip
    assert {item["entity"] for item in items} >= {"conversion", "ledger_entry", "commission_rule"}


def test_admin_filters_audit_entries_by_entity_object_and_actor(client, admin_headers, program):
    _offer, _alpha, beta, sales = program
    conversion_id = sales[beta.id][0]["id"]
    trail = _items(client, AUDIT, admin_headers, entity="conversion", entity_id=conversion_id)
    assert trail and {(i["entity"], i["entity_id"]) for i in trail} == {
        ("conversion", conversion_id)
    }
    assert "approved" in {item["action"] for item in trail}
    actor = trail[0]["actor"]
    by_actor = _items(client, AUDIT, admin_headers, actor=actor, limit=500)
    assert by_actor and {item["actor"] for item in by_actor} == {actor}
    assert _items(client, AUDIT, admin_headers, actor="nobody") == []
    assert _items(client, AUDIT, admin_headers, entity="no_such_entity") == []


def test_a_partner_key_gets_403_on_audit_entries(client, program):
    _offer, alpha, _beta, _sales = program
    response = client.get(AUDIT, headers=bearer(partner_key(alpha)))
    assert response.status_code == 403 and response.mimetype == PROBLEM


def test_a_conversions_key_gets_403_on_audit_entries(client, conversions_headers):
    assert client.get(AUDIT, headers=conversions_headers).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"entity_id": str(2**31)}, "entity_id"),
        ({"entity_id": "x"}, "entity_id"),
        ({"entity": "e" * 33}, "entity"),
        ({"actor": "a" * 201}, "actor"),
        ({"actor": "\x00"}, "actor"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
def test_a_bad_audit_query_is_422_naming_the_field(client, admin_headers, query, field):
    assert _fields(client.get(AUDIT, query_string=query, headers=admin_headers)) == [field]


def test_the_openapi_document_describes_both_lists(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert paths[LEDGER]["get"]["x-scopes"] == ["admin", "partner"]
    assert paths[AUDIT]["get"]["x-scopes"] == ["admin"]
    names = {param["name"] for param in paths[AUDIT]["get"]["parameters"]}
    assert names >= {"entity", "entity_id", "actor", "limit", "cursor"}
