"""Commission rules (admin): versioned on every edit, previewed before they pay."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from affiliates.api.core import Principal, endpoint, paginate
from affiliates.api.schemas import (
    Page,
    PreviewIn,
    PreviewOut,
    RuleCreate,
    RuleOut,
    RuleQuery,
    RuleUpdate,
)
from affiliates.extensions import db
from affiliates.models import CommissionRule
from affiliates.services import commission_rules


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
def list_rules(_p: Principal, query: RuleQuery) -> Page[RuleOut]:
    """Rules, newest first, optionally of one offer (plus the program-wide ones)."""
    stmt = select(CommissionRule)
    if query.offer_id is not None:
        stmt = stmt.where(
            (CommissionRule.offer_id == query.offer_id) | CommissionRule.offer_id.is_(None)
        )
    if query.active is not None:
        stmt = stmt.where(CommissionRule.active.is_(query.active))
    rows, cursor = paginate(db.session, stmt, CommissionRule.id, query.limit, query.cursor)
    return Page[RuleOut](items=[RuleOut.model_validate(r) for r in rows], next_cursor=cursor)


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
