"""Draft rules simulated on a past period: what was paid, what the drafts would pay, per
partner and in total, and the cost per new customer; nothing is ever written."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from affiliates.models import AuditEntry, CommissionRule, CommissionRuleVersion, Conversion
from affiliates.services import commission_rules
from affiliates.services.replay import MonthCounts
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, partner_key

T0 = dt.datetime(2026, 4, 5, 12, 0, tzinfo=dt.UTC)
SIMULATE = "/api/v1/commission-rules/simulate"
RULES = "/api/v1/commission-rules"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
_orders = itertools.count()


@pytest.fixture(autouse=True)
def clock(clock):
    """The services' clock, in April: March is a closed month."""
    clock.now = T0
    return clock


@pytest.fixture
def offer():
    return OfferFactory(target_cac=Decimal("80.00"))


@pytest.fixture
def alice():
    return PartnerFactory()


@pytest.fixture
def bob():
    return PartnerFactory()


def at(day: int, hour: int = 12, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def add(session, offer, partner, when, amount="1000.00", paid="0.00", **fields) -> Conversion:
    """A recorded conversion that was given `paid` (whatever rule gave it)."""
    conversion = Conversion(
        offer_id=offer.id,
        type=fields.pop("type", "sale"),
        order_id=f"o{next(_orders)}",
        amount=Decimal(amount),
        refunded_amount=Decimal(fields.pop("refunded", "0.00")),
        currency=offer.currency,
        partner_id=partner.id if partner is not None else None,
        status=fields.pop("status", "pending"),
        commission=Decimal(paid),
        occurred_at=when,
        hold_until=when + dt.timedelta(days=30),
        **fields,
    )
    session.add(conversion)
    session.commit()
    return conversion


def draft(**fields) -> dict:
    return {
        "offer_id": fields.pop("offer_id", None),
        "type": "sale",
        "kind": "percent",
        "value": "10.00",
        **fields,
    }


def simulate(client, headers, offer, rules, **fields) -> dict:
    body = {"offer_id": offer.id, **MARCH, "rules": rules, **fields}
    response = client.post(SIMULATE, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def publish(client, headers, **fields) -> dict:
    response = client.post(RULES, json=draft(**fields), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def by_partner(result: dict) -> dict:
    return {row["partner_id"]: row for row in result["partners"]}


def error_fields(response, status=422) -> list[str]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return [error["field"] for error in response.get_json()["errors"]]


# Totals and partners ------------------------------------------------------------------------


def test_a_simulation_sets_what_was_paid_beside_what_the_drafts_would_pay_to_the_kopeck(
    client, admin_headers, session, offer, alice, bob
):
    add(session, offer, alice, at(1), "1000.00", "100.00", new_customer=True)
    add(session, offer, alice, at(2), "333.33", "33.33", new_customer=False)
    add(session, offer, bob, at(3), "1999.99", "150.00", new_customer=True)
    add(session, offer, None, at(4), "500.00", "0.00", new_customer=True)  # organic
    result = simulate(client, admin_headers, offer, [draft(offer_id=offer.id, value="7.5")])
    assert (result["currency"], result["target_cac"]) == ("RUB", "80.00")
    # 7.5% of 1 000.00 = 75.00; of 333.33 = 24.99975 -> 25.00; of 1 999.99 = 149.99925,
    # capped at the target CAC 80.00 for a new customer; organic earns nothing
    assert result["totals"] == {
        "conversions": 4,
        "paid": "283.33",
        "draft": "180.00",
        "difference": "-103.33",
        "new_customers": 3,
        "cost_per_new_customer_paid": "83.33",  # 250.00 / 3
        "cost_per_new_customer_draft": "51.67",  # 155.00 / 3
    }
    assert result["partners"] == [
        {
            "partner_id": alice.id,
            "conversions": 2,
            "paid": "133.33",
            "draft": "100.00",
            "difference": "-33.33",
            "new_customers": 1,
            "cost_per_new_customer_paid": "100.00",
            "cost_per_new_customer_draft": "75.00",
        },
        {
            "partner_id": bob.id,
            "conversions": 1,
            "paid": "150.00",
            "draft": "80.00",
            "difference": "-70.00",
            "new_customers": 1,
            "cost_per_new_customer_paid": "150.00",
            "cost_per_new_customer_draft": "80.00",
        },
        {
            "partner_id": None,
            "conversions": 1,
            "paid": "0.00",
            "draft": "0.00",
            "difference": "0.00",
            "new_customers": 1,
            "cost_per_new_customer_paid": "0.00",
            "cost_per_new_customer_draft": "0.00",
        },
    ]


def test_cost_per_new_customer_is_null_without_new_customers(
    client, admin_headers, session, offer, alice
):
    add(session, offer, alice, at(1), "1000.00", "40.00", new_customer=False)
    add(session, offer, alice, at(2), "1000.00", "40.00")  # not known: not new
    result = simulate(client, admin_headers, offer, [draft()])
    assert result["totals"]["new_customers"] == 0
    assert result["totals"]["cost_per_new_customer_paid"] is None
    assert result["totals"]["cost_per_new_customer_draft"] is None
    assert (result["totals"]["paid"], result["totals"]["draft"]) == ("80.00", "200.00")


def test_only_live_conversions_of_the_offer_in_the_period_are_replayed(
    client, admin_headers, session, offer, alice
):
    add(session, offer, alice, at(1, 0), paid="1.00")  # the first instant: in
    add(session, offer, alice, dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.UTC), paid="2.00")
    add(session, offer, alice, at(10), paid="4.00", status="approved")
    add(session, offer, alice, at(11), paid="0.00", status="rejected")
    add(session, offer, alice, at(12), paid="0.00", status="reversed", refunded="1000.00")
    add(session, offer, alice, dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC), paid="8.00")
    add(session, offer, alice, at(1, 0, month=4), paid="16.00")
    add(session, OfferFactory(), alice, at(5), paid="32.00")
    result = simulate(client, admin_headers, offer, [draft(kind="fixed", value="10.00")])
    assert result["totals"]["conversions"] == 3
    assert (result["totals"]["paid"], result["totals"]["draft"]) == ("7.00", "30.00")


def test_a_timestamp_bound_is_exact_and_the_end_is_excluded(
    client, admin_headers, session, offer, alice
):
    add(session, offer, alice, at(10, 9), paid="1.00")
    add(session, offer, alice, at(10, 10), paid="2.00")
    add(session, offer, alice, at(10, 11), paid="4.00")
    result = simulate(
        client,
        admin_headers,
        offer,
        [],
        **{"from": "2026-03-10T10:00:00Z", "to": "2026-03-10T13:00:00+02:00"},
    )
    assert (result["totals"]["conversions"], result["totals"]["paid"]) == (1, "2.00")


def test_an_empty_period_answers_zeros(client, admin_headers, offer):
    result = simulate(client, admin_headers, offer, [draft()])
    assert result["partners"] == []
    assert result["totals"] == {
        "conversions": 0,
        "paid": "0.00",
        "draft": "0.00",
        "difference": "0.00",
        "new_customers": 0,
        "cost_per_new_customer_paid": None,
        "cost_per_new_customer_draft": None,
    }


def test_drafts_pay_on_what_remains_after_a_refund_as_the_rule_chosen_on_the_whole_order(
    client, admin_headers, session, offer, alice
):
    add(session, offer, alice, at(3), "1000.00", "30.00", refunded="400.00")
    # the order came in at 1 000.00, above the minimum; 10% applies to the 600.00 left
    result = simulate(client, admin_headers, offer, [draft(min_order_amount="800.00")])
    assert (result["totals"]["paid"], result["totals"]["draft"]) == ("30.00", "60.00")


def test_category_drafts_pay_only_on_their_category_lines(
    client, admin_headers, session, offer, alice
):
    items = [
        {"sku": "tv", "category": "electronics", "quantity": 1, "amount": "700.00"},
        {"sku": "mug", "category": "kitchen", "quantity": 2, "amount": "300.00"},
    ]
    add(session, offer, alice, at(3), "1000.00", "50.00", items=items)
    add(session, offer, alice, at(4), "1000.00", "50.00")  # no items: no category
    rules = [draft(category="electronics", value="15", priority=1), draft(kind="fixed", value="5")]
    result = simulate(client, admin_headers, offer, rules)
    assert result["totals"]["draft"] == "110.00"  # 15% of 700.00, and the fixed 5.00


# Replace or add --------------------------------------------------------------------------


def test_drafts_replace_the_offers_current_rules_by_default(
    client, admin_headers, session, offer, alice
):
    publish(client, admin_headers, offer_id=offer.id, kind="fixed", value="50.00", priority=5)
    publish(client, admin_headers, kind="fixed", value="70.00", priority=9)  # program-wide
    add(session, offer, alice, at(3), "1000.00", "70.00")
    result = simulate(client, admin_headers, offer, [draft(value="10")])
    assert result["totals"]["draft"] == "100.00"


def test_drafts_added_to_the_current_rules_compete_with_them_under_the_usual_resolution(
    client, admin_headers, session, offer, alice
):
    publish(client, admin_headers, offer_id=offer.id, kind="fixed", value="50.00", priority=5)
    add(session, offer, alice, at(3), "1000.00", "50.00")
    outranked = simulate(client, admin_headers, offer, [draft(value="10")], replace=False)
    assert outranked["totals"]["draft"] == "50.00"
    winning = simulate(client, admin_headers, offer, [draft(value="10", priority=6)], replace=False)
    assert winning["totals"]["draft"] == "100.00"
    # on a tie the newest wins, and a draft would be published now
    tied = simulate(
        client,
        admin_headers,
        offer,
        [draft(offer_id=offer.id, value="10", priority=5)],
        replace=False,
    )
    assert tied["totals"]["draft"] == "100.00"


def test_the_later_of_two_tied_drafts_is_the_newer_and_wins(
    client, admin_headers, session, offer, alice
):
    add(session, offer, alice, at(3), "1000.00", "0.00")
    result = simulate(
        client, admin_headers, offer, [draft(value="10"), draft(kind="fixed", value="33.00")]
    )
    assert result["totals"]["draft"] == "33.00"


def test_with_no_drafts_and_replace_false_the_current_rules_are_replayed(
    client, admin_headers, session, offer, alice
):
    publish(client, admin_headers, offer_id=offer.id, value="12")
    add(session, offer, alice, at(3), "1000.00", "100.00")
    result = simulate(client, admin_headers, offer, [], replace=False)
    assert (result["totals"]["draft"], result["totals"]["difference"]) == ("120.00", "20.00")
    assert simulate(client, admin_headers, offer, [])["totals"]["draft"] == "0.00"


# Tiers and new customers -----------------------------------------------------------------


def test_draft_tiers_count_the_partners_earlier_conversions_this_month_as_the_engine_does(
    client, admin_headers, session, offer, alice, bob
):
    add(session, offer, alice, at(27, month=2))  # last month: not counted
    add(session, offer, alice, at(1))  # before the period, same month: counted
    add(session, offer, alice, at(2), status="reversed", refunded="1000.00")  # counted
    add(session, offer, alice, at(3), status="rejected")  # never counted
    add(session, offer, alice, at(4), type="lead", amount="0.00")  # another type
    fifth = add(session, offer, alice, at(5))
    sixth = add(session, offer, bob, at(5))
    tiered = draft(kind="fixed", value="100.00", tiers=[{"min_conversions": 2, "value": "150"}])
    result = simulate(
        client, admin_headers, offer, [tiered], **{"from": "2026-03-04", "to": "2026-03-31"}
    )
    rows = by_partner(result)
    assert rows[alice.id]["draft"] == "150.00"  # the 1st and the 2nd count: 2 so far
    assert rows[bob.id]["draft"] == "100.00"
    for conversion in (fifth, sixth):
        engine = commission_rules.month_conversions(
            session, offer.id, conversion.partner_id, "sale", conversion.occurred_at
        )
        counts = MonthCounts(session, offer.id, at(4), at(31))
        assert counts(conversion.partner_id, "sale", conversion.occurred_at) == engine


def test_replayed_conversions_climb_the_tiers_in_the_order_they_occurred(
    client, admin_headers, session, offer, alice
):
    for day in (9, 3, 6, 3):  # recorded out of order; two at the same instant
        add(session, offer, alice, at(day))
    tiers = [{"min_conversions": 1, "value": "20"}, {"min_conversions": 3, "value": "40"}]
    tiered = draft(kind="fixed", value="10.00", tiers=tiers)
    result = simulate(client, admin_headers, offer, [tiered])
    # 3rd: 0 and 0 earlier (neither counts the other); 6th: 2 -> 20; 9th: 3 -> 40
    assert result["totals"]["draft"] == "80.00"


def test_new_customer_drafts_are_capped_by_their_cap_or_else_the_target_cac(
    client, admin_headers, session, offer, alice, bob
):
    add(session, offer, alice, at(3), "1000.00", "100.00", new_customer=True)
    add(session, offer, alice, at(4), "1000.00", "100.00", new_customer=False)
    add(session, offer, bob, at(5), "1000.00", "100.00", new_customer=True)
    rules = [
        draft(value="20", new_customers_only=True, cap="120.00", partner_id=alice.id, priority=10),
        draft(value="20", new_customers_only=True, priority=10),
        draft(kind="fixed", value="10.00"),
    ]
    rows = by_partner(simulate(client, admin_headers, offer, rules))
    assert rows[alice.id]["draft"] == "130.00"  # 200.00 capped at 120.00, and 10.00
    assert rows[alice.id]["cost_per_new_customer_draft"] == "120.00"
    assert rows[bob.id]["draft"] == "80.00"  # 200.00 capped at the target CAC
    assert rows[bob.id]["cost_per_new_customer_draft"] == "80.00"


# Nothing is written ------------------------------------------------------------------------


def _counts(session) -> dict:
    session.rollback()  # a fresh read
    models = (AuditEntry, CommissionRule, CommissionRuleVersion, Conversion)
    counts = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}
    counts["commissions"] = sorted(
        (c.id, c.commission, c.rule_id, c.rule_version, c.updated_at)
        for c in session.scalars(select(Conversion))
    )
    return counts


def test_a_simulation_writes_nothing(client, admin_headers, session, offer, alice):
    publish(client, admin_headers, offer_id=offer.id, value="5")
    add(session, offer, alice, at(3), "1000.00", "50.00", new_customer=True)
    add(session, offer, alice, at(4), "1000.00", "50.00", status="approved")
    before = _counts(session)
    for replace in (True, False):
        simulate(
            client,
            admin_headers,
            offer,
            [
                draft(value="30"),
                draft(kind="fixed", value="1.00", tiers=[{"min_conversions": 1, "value": "2"}]),
            ],
            replace=replace,
        )
    assert _counts(session) == before


# Bad bodies and keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"offer_id": None}, "offer_id"),
        ({"from": None}, "from"),
        ({"from": "March"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"replace": "yes please"}, "replace"),
        ({"replace": "false"}, "replace"),
        ({"rules": [{"type": "sale", "kind": "share", "value": "1"}]}, "rules.0.kind"),
        ({"rules": [draft(), {"type": "sale", "kind": "fixed"}]}, "rules.1.value"),
        ({"rules": [draft(value="-1")]}, "rules.0.value"),
        ({"rules": [draft(tiers=[{"min_conversions": 1, "value": "x"}])]}, "rules.0.tiers.0.value"),
        ({"rules": [draft(surprise=True)]}, "rules.0.surprise"),
        ({"rules": "all of them"}, "rules"),
        ({"rules": [draft()] * 51}, "rules"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(client, admin_headers, offer, change, field):
    body = {"offer_id": offer.id, **MARCH, "rules": [draft()], **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.post(SIMULATE, json=body, headers=admin_headers)
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"offer_id": 999_999}, "offer_id"),
        ({"to": "2026-02-01"}, "to"),
        ({"from": "2026-03-05T00:00:00Z", "to": "2026-03-05T00:00:00Z"}, "to"),
        ({"rules": [draft(value="101")]}, "rules.0.value"),
        ({"rules": [draft(), draft(partner_id=999_999)]}, "rules.1.partner_id"),
        ({"rules": [draft(offer_id=999_999)]}, "rules.0.offer_id"),
        (
            {"rules": [draft(starts_at="2026-03-05T00:00:00Z", ends_at="2026-03-01T00:00:00Z")]},
            "rules.0.ends_at",
        ),
    ],
)
def test_a_body_the_database_refutes_is_a_422_naming_the_field(
    client, admin_headers, offer, change, field
):
    body = {"offer_id": offer.id, **MARCH, "rules": [draft()], **change}
    response = client.post(SIMULATE, json=body, headers=admin_headers)
    assert error_fields(response) == [field]


def test_a_draft_for_another_offer_is_refused(client, admin_headers, offer):
    other = OfferFactory()
    body = {"offer_id": offer.id, **MARCH, "rules": [draft(offer_id=other.id)]}
    response = client.post(SIMULATE, json=body, headers=admin_headers)
    assert error_fields(response) == ["rules.0.offer_id"]


def test_only_admin_keys_may_simulate(client, session, offer, alice, conversions_headers):
    body = {"offer_id": offer.id, **MARCH, "rules": [draft()]}
    for headers in (conversions_headers, bearer(partner_key(alice))):
        response = client.post(SIMULATE, json=body, headers=headers)
        assert response.status_code == 403, response.get_data(as_text=True)
    assert client.post(SIMULATE, json=body).status_code == 401
