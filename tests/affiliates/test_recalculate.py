"""Recalculation: pending conversions of an offer and period under the current rules, a dry
run first, then stored with an audit entry each; over the API and the CLI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion
from affiliates.services import commission_rules, replay
from tests.conftest import bearer
from tests.factories import OfferFactory, PartnerFactory, partner_key
from tests.helpers import sale

T0 = dt.datetime(2026, 4, 5, 12, 0, tzinfo=dt.UTC)
RECALCULATE = "/api/v1/commission-rules/recalculate"
RULES = "/api/v1/commission-rules"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture(autouse=True)
def clock(clock):
    """The services' clock, in April: March is a closed month."""
    clock.now = T0
    return clock


@pytest.fixture
def offer():
    return OfferFactory(target_cac=Decimal("500.00"), min_click_to_conversion_seconds=0)


@pytest.fixture
def partner():
    return PartnerFactory()


def at(day: int, hour: int = 12, month: int = 3) -> str:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC).isoformat()


def publish(client, headers, offer, **fields) -> dict:
    body = {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": "10", **fields}
    response = client.post(RULES, json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def edit(client, headers, rule, **changes) -> dict:
    response = client.patch(f"{RULES}/{rule['id']}", json=changes, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def recalculate(client, headers, offer, **fields) -> dict:
    body = {"offer_id": offer.id, **MARCH, **fields}
    response = client.post(RECALCULATE, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def state(session) -> list[tuple]:
    session.rollback()  # a fresh read
    return sorted(
        (c.id, c.status, c.commission, c.rule_id, c.rule_version, c.explanation, c.updated_at)
        for c in session.scalars(select(Conversion))
    )


def audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry))


def recalculations(session) -> list[AuditEntry]:
    session.rollback()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == "recalculated").order_by(AuditEntry.id)
        )
    )


@pytest.fixture
def edited(client, admin_headers, offer, partner):
    """Five conversions earned 10% (100.00); the rule now says 12%. Two stay pending, the
    others are approved, rejected and refunded in full."""
    rule = publish(client, admin_headers, offer)
    made = [
        sale(client, admin_headers, offer, f"A-{n}", partner=partner, occurred_at=at(n + 1))
        for n in range(5)
    ]
    assert {c["commission"] for c in made} == {"100.00"}
    ids = [c["id"] for c in made]
    for path, body in (("approve", {}), ("reject", {"reason": "fraud"}), ("refund", {})):
        conversion_id = ids.pop()
        response = client.post(
            f"/api/v1/conversions/{conversion_id}/{path}", json=body, headers=admin_headers
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    rule = edit(client, admin_headers, rule, value="12")
    return rule, ids, [c["id"] for c in made[2:]]


# Dry run -----------------------------------------------------------------------------------


def test_a_dry_run_reports_each_pending_change_and_writes_nothing(
    client, admin_headers, session, offer, edited
):
    rule, pending, _closed = edited
    before, audited = state(session), audit_count(session)
    result = recalculate(client, admin_headers, offer)
    assert (result["dry_run"], result["count"]) == (True, 2)
    assert [change["id"] for change in result["changed"]] == pending
    first = result["changed"][0]
    assert first["before"] == {"commission": "100.00", "rule_id": rule["id"], "rule_version": 1}
    assert first["after"] == {"commission": "120.00", "rule_id": rule["id"], "rule_version": 2}
    assert first["explanation"] == "12% of 1\u00a0000.00 RUB = 120.00 RUB"
    assert first["occurred_at"] == "2026-03-01T12:00:00Z"
    assert (state(session), audit_count(session)) == (before, audited)


def test_a_dry_run_is_the_default(client, admin_headers, offer, edited):
    body = {"offer_id": offer.id, **MARCH}
    result = client.post(RECALCULATE, json=body, headers=admin_headers).get_json()
    assert (result["dry_run"], result["count"]) == (True, 2)


# Applying ----------------------------------------------------------------------------------


def test_applying_changes_only_pending_conversions_and_audits_each(
    client, admin_headers, session, offer, edited
):
    rule, pending, closed = edited
    untouched = [row for row in state(session) if row[0] in closed]
    result = recalculate(client, admin_headers, offer, dry_run=False)
    assert (result["dry_run"], result["count"]) == (False, 2)
    rows = {row[0]: row for row in state(session)}
    for conversion_id in pending:
        assert rows[conversion_id][1:5] == ("pending", Decimal("120.00"), rule["id"], 2)
        assert rows[conversion_id][5][-1] == "recalculated: 12% of 1\u00a0000.00 RUB = 120.00 RUB"
    assert [rows[conversion_id] for conversion_id in closed] == untouched
    entries = recalculations(session)
    assert [entry.entity_id for entry in entries] == pending
    for entry in entries:
        assert entry.entity == "conversion"
        assert entry.actor.startswith("api-key:") and entry.actor.endswith(":admin")
        assert entry.before["commission"] == "100.00"
        assert (entry.before["rule_id"], entry.before["rule_version"]) == (rule["id"], 1)
        assert entry.after["commission"] == "120.00"
        assert (entry.after["rule_id"], entry.after["rule_version"]) == (rule["id"], 2)
        assert entry.after["status"] == "pending"
        assert entry.actor in entry.reason and f"offer {offer.id}" in entry.reason
        assert entry.at == T0


def test_the_api_shows_the_recalculated_commission_and_why(client, admin_headers, offer, edited):
    _rule, pending, _closed = edited
    recalculate(client, admin_headers, offer, dry_run=False)
    shown = client.get(f"/api/v1/conversions/{pending[0]}", headers=admin_headers).get_json()
    assert (shown["commission"], shown["rule_version"]) == ("120.00", 2)
    assert shown["explanation"][-2] == "10% of 1\u00a0000.00 RUB = 100.00 RUB"
    assert shown["explanation"][-1].startswith("recalculated: 12%")


def test_a_second_recalculation_finds_nothing_to_change(
    client, admin_headers, session, offer, edited
):
    recalculate(client, admin_headers, offer, dry_run=False)
    audited = audit_count(session)
    again = recalculate(client, admin_headers, offer, dry_run=False)
    assert (again["count"], again["changed"]) == (0, [])
    assert audit_count(session) == audited


def test_only_the_period_and_the_offer_are_recalculated(
    client, admin_headers, session, offer, partner, edited
):
    rule, pending, _closed = edited
    other = OfferFactory(min_click_to_conversion_seconds=0)
    other_rule = publish(client, admin_headers, other)
    elsewhere = sale(client, admin_headers, other, "B-1", partner=partner, occurred_at=at(3))
    edit(client, admin_headers, other_rule, value="50")
    late = sale(
        client, admin_headers, offer, "A-late", partner=partner, occurred_at=at(1, 0, month=4)
    )
    edit(client, admin_headers, rule, value="15")
    result = recalculate(
        client, admin_headers, offer, **{"from": "2026-03-02", "to": "2026-03-31"}, dry_run=False
    )
    assert [change["id"] for change in result["changed"]] == pending[1:]
    session.rollback()
    assert session.get(Conversion, pending[0]).commission == Decimal("100.00")
    assert session.get(Conversion, elsewhere["id"]).commission == Decimal("100.00")
    assert session.get(Conversion, late["id"]).commission == Decimal("120.00")


def test_recalculation_counts_tiers_as_the_engine_does(
    client, admin_headers, session, offer, partner
):
    first = publish(client, admin_headers, offer)
    made = [
        sale(client, admin_headers, offer, f"T-{n}", partner=partner, occurred_at=at(n + 1))
        for n in range(3)
    ]
    client.post(
        f"/api/v1/conversions/{made[1]['id']}/reject",
        json={"reason": "fraud"},
        headers=admin_headers,
    )
    client.delete(f"{RULES}/{first['id']}", headers=admin_headers)
    tiered = publish(
        client,
        admin_headers,
        offer,
        kind="fixed",
        value="100.00",
        tiers=[{"min_conversions": 1, "value": "150.00"}],
    )
    result = recalculate(client, admin_headers, offer, dry_run=False)
    after = {change["id"]: change["after"] for change in result["changed"]}
    # the rejected second one neither changes nor counts: the third has one before it
    assert after == {
        made[0]["id"]: {"commission": "100.00", "rule_id": tiered["id"], "rule_version": 1},
        made[2]["id"]: {"commission": "150.00", "rule_id": tiered["id"], "rule_version": 1},
    }


def test_a_partly_refunded_pending_conversion_is_recalculated_on_what_remains(
    client, admin_headers, session, offer, partner
):
    rule = publish(client, admin_headers, offer)
    made = sale(client, admin_headers, offer, "R-1", partner=partner, occurred_at=at(3))
    client.post(
        f"/api/v1/conversions/{made['id']}/refund", json={"amount": "250.00"}, headers=admin_headers
    )
    edit(client, admin_headers, rule, value="20")
    result = recalculate(client, admin_headers, offer)
    assert result["changed"][0]["before"]["commission"] == "75.00"
    assert result["changed"][0]["after"]["commission"] == "150.00"  # 20% of 750.00


def test_a_conversion_reviewed_while_recalculating_keeps_what_the_review_gave_it(
    session, offer, edited, monkeypatch
):
    _rule, pending, _closed = edited
    replayed = commission_rules.for_recorded_conversion
    reviewed = []

    def review_meanwhile(*args):  # type: ignore[no-untyped-def]
        if not reviewed:  # another admin approves the first one, after it was read
            with db.engine.begin() as conn:
                conn.execute(
                    update(Conversion).where(Conversion.id == pending[0]).values(status="approved")
                )
            reviewed.append(pending[0])
        return replayed(*args)

    monkeypatch.setattr(commission_rules, "for_recorded_conversion", review_meanwhile)
    session.rollback()
    result = replay.recalculate(session, offer.id, *_march(), "tests", dry_run=False, now=T0)
    assert [change.id for change in result.changed] == pending[1:]
    session.rollback()
    first = session.get(Conversion, pending[0])
    assert (first.status, first.commission, first.rule_version) == (
        "approved",
        Decimal("100.00"),
        1,
    )
    assert [entry.entity_id for entry in recalculations(session)] == pending[1:]


def _march() -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


# The CLI -----------------------------------------------------------------------------------


def test_the_cli_dry_run_prints_a_summary_and_each_change_and_writes_nothing(
    runner, session, offer, edited
):
    rule, pending, _closed = edited
    before, audited = state(session), audit_count(session)
    result = runner.invoke(
        args=["recalculate", "--offer", str(offer.id), "--from", "2026-03-01", "--to", "2026-03-31"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Dry run: 2 pending conversions would change")
    assert "--apply" in lines[0]
    assert lines[1:] == [
        f"conversion {conversion_id} (partner {session.get(Conversion, conversion_id).partner_id}"
        f"): 100.00 RUB (rule {rule['id']} v1) -> 120.00 RUB (rule {rule['id']} v2)"
        for conversion_id in pending
    ]
    assert (state(session), audit_count(session)) == (before, audited)


def test_the_cli_applies_with_apply_and_audits_as_the_cli(runner, session, offer, edited):
    _rule, pending, _closed = edited
    result = runner.invoke(
        args=[
            "recalculate",
            "--offer",
            str(offer.id),
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-31",
            "--apply",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Recalculated 2 pending conversions")
    entries = recalculations(session)
    assert [(e.entity_id, e.actor) for e in entries] == [(i, "cli:recalculate") for i in pending]
    assert {session.get(Conversion, i).commission for i in pending} == {Decimal("120.00")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "March", "--to", "2026-03-31"], "--from"),
        (["--from", "2026-03-01", "--to", "2026-02-30"], "--to"),
        (["--from", "2026-03-05", "--to", "2026-03-01"], "must end after it starts"),
    ],
)
def test_the_cli_refuses_bad_dates(runner, offer, args, message):
    result = runner.invoke(args=["recalculate", "--offer", str(offer.id), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_the_cli_refuses_an_unknown_offer(runner):
    result = runner.invoke(
        args=["recalculate", "--offer", "999999", "--from", "2026-03-01", "--to", "2026-03-31"]
    )
    assert result.exit_code == 1
    assert "Offer 999999 does not exist." in result.output


# Bad bodies and keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"offer_id": None}, "offer_id"),
        ({"offer_id": True}, "offer_id"),
        ({"from": None}, "from"),
        ({"to": "tomorrow"}, "to"),
        ({"dry_run": "no"}, "dry_run"),
        ({"dry_run": "false"}, "dry_run"),
        ({"dry_run": 0}, "dry_run"),
        ({"dry_run": None}, "dry_run"),
        ({"apply": True}, "apply"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(client, admin_headers, offer, change, field):
    body = {
        key: value
        for key, value in {"offer_id": offer.id, **MARCH, **change}.items()
        if value is not None or key == "dry_run"
    }
    response = client.post(RECALCULATE, json=body, headers=admin_headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in [error["field"] for error in response.get_json()["errors"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"offer_id": 999_999}, "offer_id"), ({"from": "2026-04-01", "to": "2026-03-31"}, "to")],
)
def test_a_body_the_database_refutes_is_a_422_naming_the_field(
    client, admin_headers, offer, change, field
):
    response = client.post(
        RECALCULATE, json={"offer_id": offer.id, **MARCH, **change}, headers=admin_headers
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert [error["field"] for error in response.get_json()["errors"]] == [field]


def test_only_admin_keys_may_recalculate(client, session, offer, partner, conversions_headers):
    body = {"offer_id": offer.id, **MARCH, "dry_run": False}
    for headers in (conversions_headers, bearer(partner_key(partner))):
        response = client.post(RECALCULATE, json=body, headers=headers)
        assert response.status_code == 403, response.get_data(as_text=True)


def test_a_big_recalculation_commits_as_it_goes_with_each_change_beside_its_audit_entry(
    client, admin_headers, session, offer, edited, monkeypatch
):
    _rule, pending, _closed = edited
    monkeypatch.setattr(replay, "COMMIT_EVERY", 1)
    result = recalculate(client, admin_headers, offer, dry_run=False)
    assert result["count"] == 2
    assert [entry.entity_id for entry in recalculations(session)] == pending
    assert {session.get(Conversion, i).commission for i in pending} == {Decimal("120.00")}
