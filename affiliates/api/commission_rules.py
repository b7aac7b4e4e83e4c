"""Commission rules (admin): versioned on every edit, previewed before they pay."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from flask import current_app

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import (
    CommissionState,
    Page,
    PreviewIn,
    PreviewOut,
    RecalculatedConversion,
    RecalculateIn,
    RecalculateOut,
    RuleCreate,
    RuleOut,
    RuleQuery,
    RuleUpdate,
    SimulateIn,
    SimulationFigures,
    SimulationOut,
    SimulationPartner,
)
from affiliates.extensions import db
from affiliates.services import commission_rules, replay
from affiliates.services.stats import period


def _values(body: RuleCreate | RuleUpdate, unset: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=unset)
    if values.get("tiers") is not None:
        values["tiers"] = [
            {"min_conversions": t["min_conversions"], "value": f"{t['value']:.2f}"}
            for t in values["tiers"]
        ]
    return values


@endpoint("/commission-rules", "POST", summary="Publish a commission rule", body=RuleCreate,
          response=RuleOut, status=201)  # fmt: skip
def create_rule(principal: Principal, body: RuleCreate) -> RuleOut:
    """Publish a rule; it pays conversions recorded from now on."""
    rule = commission_rules.create(db.session, _values(body, False), principal.actor)
    return RuleOut.model_validate(rule)


@endpoint("/commission-rules", summary="List commission rules", query=RuleQuery,
          response=Page[RuleOut])  # fmt: skip
def list_rules(principal: Principal, query: RuleQuery) -> Page[RuleOut]:
    """Rules, newest first, optionally of one offer (plus the program-wide ones)."""
    filters = commission_rules.RuleFilters(offer_id=query.offer_id, active=query.active)
    page = commission_rules.list_rules(db.session, filters, principal.viewer, limit=query.limit,
                                       cursor=query.cursor)  # fmt: skip
    return Page[RuleOut](items=[RuleOut.model_validate(r) for r in page.items],
                         next_cursor=page.next_cursor)  # fmt: skip


@endpoint("/commission-rules/<int:rule_id>", summary="Get a commission rule", response=RuleOut)
def get_rule(_p: Principal, rule_id: int) -> RuleOut:
    """One rule as it stands now."""
    return RuleOut.model_validate(commission_rules.get(db.session, rule_id))


@endpoint("/commission-rules/<int:rule_id>", "PATCH", summary="Edit a rule (a new version)",
          body=RuleUpdate, response=RuleOut)  # fmt: skip
def update_rule(principal: Principal, rule_id: int, body: RuleUpdate) -> RuleOut:
    """A new version with the same id; commissions already given keep theirs."""
    rule = commission_rules.update(db.session, rule_id, _values(body, True), principal.actor)
    return RuleOut.model_validate(rule)


@endpoint("/commission-rules/<int:rule_id>", "DELETE", summary="Deactivate a rule",
          response=RuleOut)  # fmt: skip
def delete_rule(principal: Principal, rule_id: int) -> RuleOut:
    """Deactivate: the rule stops matching; its history stays."""
    return RuleOut.model_validate(commission_rules.deactivate(db.session, rule_id, principal.actor))


@endpoint("/commission-rules/preview", "POST", summary="Preview a commission",
          body=PreviewIn, response=PreviewOut)  # fmt: skip
def preview_rule(_p: Principal, body: PreviewIn) -> PreviewOut:
    """What a hypothetical order would earn now, which rule pays, and why."""
    values = body.model_dump(exclude_none=True)
    result = commission_rules.preview(db.session, values, current_app.extensions["clock"]())
    return PreviewOut(
        commission=result.amount,
        rule_id=result.rule_id,
        rule_version=result.rule_version,
        explanation=result.explanation,
    )


def _period(body: SimulateIn | RecalculateIn) -> tuple[dt.datetime, dt.datetime]:
    start, end = period(body.from_, body.to)
    # both bounds are required fields, so neither is None
    return cast(dt.datetime, start), cast(dt.datetime, end)


@endpoint("/commission-rules/simulate", "POST", summary="Simulate draft rules on past conversions",
          body=SimulateIn, response=SimulationOut)  # fmt: skip
def simulate_rules(_p: Principal, body: SimulateIn) -> SimulationOut:
    """What draft rules would have paid a past period's conversions, next to what was paid."""
    start, end = _period(body)
    drafts = [_values(rule, False) for rule in body.rules]
    result = replay.simulate(db.session, body.offer_id, start, end, drafts, body.replace,
                             current_app.extensions["clock"]())  # fmt: skip
    return SimulationOut(
        currency=result.currency,
        target_cac=result.target_cac,
        totals=SimulationFigures(**result.totals.as_dict()),
        partners=[
            SimulationPartner(partner_id=tally.partner_id, **tally.as_dict())
            for tally in result.partners
        ],
    )


@endpoint("/commission-rules/recalculate", "POST",
          summary="Recalculate pending conversions under the current rules",
          body=RecalculateIn, response=RecalculateOut)  # fmt: skip
def recalculate_conversions(principal: Principal, body: RecalculateIn) -> RecalculateOut:
    """Pending conversions of an offer and period under the current rules: a dry run by
    default; with dry_run false the changes are stored and audited."""
    start, end = _period(body)
    result = replay.recalculate(db.session, body.offer_id, start, end, principal.actor,
                                body.dry_run, current_app.extensions["clock"]())  # fmt: skip
    changed = [
        RecalculatedConversion(
            id=change.id,
            partner_id=change.partner_id,
            occurred_at=change.occurred_at,
            before=CommissionState(
                commission=change.before[0],
                rule_id=change.before[1],
                rule_version=change.before[2],
            ),
            after=CommissionState(
                commission=change.after.amount,
                rule_id=change.after.rule_id,
                rule_version=change.after.rule_version,
            ),
            explanation=change.after.explanation,
        )
        for change in result.changed
    ]
    return RecalculateOut(dry_run=result.dry_run, changed=changed, count=len(changed))
