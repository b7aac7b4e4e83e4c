"""The attribution engine: pure functions over plain data.

Given a conversion's facts, the candidate touches (the click named in the request, the promo
code, a `utm_source` ref code, the customer's earlier attribution) and the offer's terms, it
decides which partner earned the conversion, by which method, and why — no Flask, no session,
no clock. The intake service gathers the candidates and applies the verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

CUSTOMER_BINDING = dt.timedelta(days=365)
METHODS = ("promo_code", "click", "utm", "customer")


@dataclass(frozen=True)
class PartnerFacts:
    id: int
    email: str
    active: bool


@dataclass(frozen=True)
class ClickTouch:
    """The click named by the conversion (its `click_id`)."""

    id: str
    partner: PartnerFacts
    created_at: dt.datetime
    is_bot: bool = False
    attributable: bool = True  # False: the partner was suspended when it was made
    link_archived: bool = False


@dataclass(frozen=True)
class CodeTouch:
    """The promo code named by the conversion, as checked for this order."""

    code: str
    partner: PartnerFacts
    valid: bool
    reason: str | None = None  # why not valid: exhausted, expired, ...


@dataclass(frozen=True)
class RefTouch:
    """A partner whose ref_code equals the conversion's utm_source."""

    ref_code: str
    partner: PartnerFacts


@dataclass(frozen=True)
class CustomerTouch:
    """The customer's earlier attribution (leads and sales bind customers to partners)."""

    partner: PartnerFacts
    attributed_at: dt.datetime


@dataclass(frozen=True)
class OfferTerms:
    priority: Sequence[str] = METHODS
    window_days: int = 30
    min_click_seconds: int = 10
    require_click_for_code: bool = False


@dataclass(frozen=True)
class Facts:
    occurred_at: dt.datetime
    customer_email: str | None = None
    click_reused: bool = False  # the click id is already claimed by another order


@dataclass(frozen=True)
class Touches:
    click: ClickTouch | None = None
    code: CodeTouch | None = None
    ref: RefTouch | None = None
    customer: CustomerTouch | None = None


@dataclass(frozen=True)
class Verdict:
    """Who earned the conversion and why; `partner_id` None means organic."""

    partner_id: int | None
    method: str | None
    rejected: str | None = None  # a rejection reason (self_referral), else None
    flags: tuple[str, ...] = ()
    explanation: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        return "rejected" if self.rejected else "pending"


def _click_blocker(click: ClickTouch, facts: Facts, terms: OfferTerms) -> str | None:
    if click.is_bot:
        return f"click {click.id} was made by a bot"
    if click.link_archived:
        return f"click {click.id} came through an archived link"
    if not click.attributable or not click.partner.active:
        return f"click {click.id} belongs to a partner who is not active"
    if click.created_at > facts.occurred_at:
        return f"click {click.id} came after the conversion"
    if facts.occurred_at - click.created_at > dt.timedelta(days=terms.window_days):
        return f"click {click.id} is older than the {terms.window_days}-day window"
    return None


def _candidate(
    method: str, touches: Touches, facts: Facts, terms: OfferTerms
) -> tuple[PartnerFacts | None, str]:
    """The partner this method points to (or None) and a sentence saying why."""
    if method == "promo_code":
        code = touches.code
        if code is None:
            return None, "no promo code"
        if not code.valid:
            return None, f"promo code {code.code} is not usable ({code.reason})"
        if not code.partner.active:
            return None, f"promo code {code.code} belongs to a partner who is not active"
        return code.partner, f"promo code {code.code} belongs to partner {code.partner.id}"
    if method == "click":
        click = touches.click
        if click is None:
            return None, "no click"
        blocker = _click_blocker(click, facts, terms)
        if blocker:
            return None, blocker
        return click.partner, f"click {click.id} by partner {click.partner.id} is in the window"
    if method == "utm":
        ref = touches.ref
        if ref is None:
            return None, "no utm_source matching a partner"
        if not ref.partner.active:
            return None, f"utm_source {ref.ref_code} names a partner who is not active"
        return ref.partner, f"utm_source {ref.ref_code} is partner {ref.partner.id}'s ref code"
    if method == "customer":
        customer = touches.customer
        if customer is None:
            return None, "the customer was not attributed before"
        if facts.occurred_at - customer.attributed_at > CUSTOMER_BINDING:
            return None, "the customer's attribution is older than 365 days"
        if customer.attributed_at > facts.occurred_at:
            return None, "the customer's attribution is later than this conversion"
        if not customer.partner.active:
            return None, "the customer's partner is not active"
        return customer.partner, f"the customer was attributed to partner {customer.partner.id}"
    raise ValueError(f"unknown attribution method {method!r}")


def _flags(
    winner: PartnerFacts | None,
    method: str | None,
    touches: Touches,
    facts: Facts,
    terms: OfferTerms,
) -> tuple[str, ...]:
    flags = []
    click = touches.click
    if click is not None and terms.min_click_seconds > 0:
        elapsed = (facts.occurred_at - click.created_at).total_seconds()
        if 0 <= elapsed < terms.min_click_seconds:
            flags.append("too_fast")
    if click is not None and facts.click_reused:
        flags.append("click_reused")
    if (
        method == "promo_code"
        and terms.require_click_for_code
        and winner is not None
        and (click is None or click.partner.id != winner.id)
    ):
        flags.append("code_without_click")
    return tuple(flags)


def attribute(facts: Facts, touches: Touches, terms: OfferTerms) -> Verdict:
    """Decide the conversion's partner by the offer's priority of methods."""
    explanation: list[str] = []
    winner: PartnerFacts | None = None
    method: str | None = None
    for candidate_method in terms.priority:
        partner, why = _candidate(candidate_method, touches, facts, terms)
        explanation.append(f"{candidate_method}: {why}")
        if partner is not None:
            winner, method = partner, candidate_method
            break
    flags = _flags(winner, method, touches, facts, terms)
    if winner is None:
        explanation.append("no method matched: organic")
        return Verdict(None, None, None, flags, tuple(explanation))
    email = (facts.customer_email or "").strip().casefold()
    if email and email == winner.email.strip().casefold():
        explanation.append(f"the customer is partner {winner.id} itself: rejected")
        return Verdict(winner.id, method, "self_referral", flags, tuple(explanation))
    explanation.append(f"attributed to partner {winner.id} by {method}")
    return Verdict(winner.id, method, None, flags, tuple(explanation))
