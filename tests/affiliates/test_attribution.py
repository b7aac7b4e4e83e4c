"""The attribution engine as pure functions: its tests read as sentences."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from affiliates.attribution import (
    METHODS,
    ClickTouch,
    CodeTouch,
    CustomerTouch,
    Facts,
    OfferTerms,
    PartnerFacts,
    RefTouch,
    Touches,
    attribute,
)

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ANNA = PartnerFacts(1, "anna@blog.example", True)
SHOP = PartnerFacts(2, "shop@example.com", True)
RESELLER = PartnerFacts(3, "opt@example.com", True)
SUSPENDED = PartnerFacts(4, "gone@example.com", False)


def click(partner=ANNA, ago=dt.timedelta(hours=1), **kw):  # type: ignore[no-untyped-def]
    return ClickTouch(id="c1", partner=partner, created_at=NOW - ago, **kw)


def code(partner=SHOP, valid=True, reason=None):  # type: ignore[no-untyped-def]
    return CodeTouch(code="SHOP10", partner=partner, valid=valid, reason=reason)


def test_promo_code_beats_click_under_default_priority():
    verdict = attribute(Facts(NOW), Touches(click=click(), code=code()), OfferTerms())
    assert (verdict.partner_id, verdict.method) == (SHOP.id, "promo_code")
    assert verdict.status == "pending"


def test_click_wins_when_the_offer_puts_clicks_first():
    terms = OfferTerms(priority=("click", "promo_code", "utm", "customer"))
    verdict = attribute(Facts(NOW), Touches(click=click(), code=code()), terms)
    assert (verdict.partner_id, verdict.method) == (ANNA.id, "click")


def test_an_exhausted_code_falls_through_to_the_click_and_says_why():
    touches = Touches(click=click(), code=code(valid=False, reason="exhausted"))
    verdict = attribute(Facts(NOW), touches, OfferTerms())
    assert (verdict.partner_id, verdict.method) == (ANNA.id, "click")
    assert any("exhausted" in line for line in verdict.explanation)


def test_a_click_outside_the_attribution_window_does_not_count():
    touches = Touches(click=click(ago=dt.timedelta(days=31)))
    verdict = attribute(Facts(NOW), touches, OfferTerms(window_days=30))
    assert verdict.partner_id is None and verdict.method is None
    assert any("window" in line for line in verdict.explanation)


def test_a_click_after_the_conversion_does_not_count():
    touches = Touches(click=click(ago=-dt.timedelta(minutes=5)))
    assert attribute(Facts(NOW), touches, OfferTerms()).partner_id is None


def test_bot_clicks_archived_links_and_suspended_partners_never_win():
    for touch in (
        click(is_bot=True),
        click(link_archived=True),
        click(attributable=False),
        click(partner=SUSPENDED),
    ):
        assert attribute(Facts(NOW), Touches(click=touch), OfferTerms()).partner_id is None


def test_a_suspended_partners_code_and_ref_code_never_win():
    touches = Touches(code=code(partner=SUSPENDED), ref=RefTouch("gone", SUSPENDED))
    assert attribute(Facts(NOW), touches, OfferTerms()).partner_id is None


def test_utm_source_ref_code_attributes_to_its_partner():
    verdict = attribute(Facts(NOW), Touches(ref=RefTouch("opt", RESELLER)), OfferTerms())
    assert (verdict.partner_id, verdict.method) == (RESELLER.id, "utm")


def test_a_customer_stays_with_their_partner_for_365_days():
    bound = Touches(customer=CustomerTouch(RESELLER, NOW - dt.timedelta(days=364)))
    assert attribute(Facts(NOW), bound, OfferTerms()).method == "customer"
    expired = Touches(customer=CustomerTouch(RESELLER, NOW - dt.timedelta(days=366)))
    assert attribute(Facts(NOW), expired, OfferTerms()).partner_id is None


def test_a_partner_buying_through_its_own_code_is_rejected_as_self_referral():
    facts = Facts(NOW, customer_email=" SHOP@example.com ")
    verdict = attribute(facts, Touches(code=code()), OfferTerms())
    assert verdict.status == "rejected" and verdict.rejected == "self_referral"


def test_a_conversion_too_soon_after_its_click_is_flagged_too_fast():
    touches = Touches(click=click(ago=dt.timedelta(seconds=3)))
    assert "too_fast" in attribute(Facts(NOW), touches, OfferTerms()).flags
    assert "too_fast" not in attribute(Facts(NOW), touches, OfferTerms(min_click_seconds=0)).flags


def test_a_reused_click_is_flagged():
    verdict = attribute(Facts(NOW, click_reused=True), Touches(click=click()), OfferTerms())
    assert "click_reused" in verdict.flags


def test_a_code_without_a_click_from_its_partner_is_flagged_when_the_offer_asks():
    terms = OfferTerms(require_click_for_code=True)
    lone = attribute(Facts(NOW), Touches(code=code()), terms)
    assert "code_without_click" in lone.flags
    with_own_click = attribute(Facts(NOW), Touches(code=code(), click=click(partner=SHOP)), terms)
    assert "code_without_click" not in with_own_click.flags
    assert (
        "code_without_click" not in attribute(Facts(NOW), Touches(code=code()), OfferTerms()).flags
    )


partners = st.sampled_from([ANNA, SHOP, RESELLER, SUSPENDED])
offsets = st.timedeltas(min_value=dt.timedelta(days=-5), max_value=dt.timedelta(days=400))
touches_strategy = st.builds(
    Touches,
    click=st.none()
    | st.builds(
        ClickTouch,
        id=st.just("c"),
        partner=partners,
        created_at=offsets.map(lambda d: NOW - d),
        is_bot=st.booleans(),
        attributable=st.booleans(),
        link_archived=st.booleans(),
    ),
    code=st.none()
    | st.builds(
        CodeTouch,
        code=st.just("X"),
        partner=partners,
        valid=st.booleans(),
        reason=st.sampled_from([None, "exhausted", "expired"]),
    ),
    ref=st.none() | st.builds(RefTouch, ref_code=st.just("r"), partner=partners),
    customer=st.none()
    | st.builds(CustomerTouch, partner=partners, attributed_at=offsets.map(lambda d: NOW - d)),
)
terms_strategy = st.builds(
    OfferTerms,
    priority=st.permutations(METHODS).flatmap(lambda p: st.integers(1, 4).map(lambda n: p[:n])),
    window_days=st.integers(1, 90),
    min_click_seconds=st.integers(0, 60),
    require_click_for_code=st.booleans(),
)


def _candidate_partners(touches: Touches) -> set[int]:
    found = set()
    for touch in (touches.click, touches.code, touches.ref, touches.customer):
        if touch is not None:
            found.add(touch.partner.id)
    return found


@given(touches_strategy, terms_strategy)
def test_the_winner_is_always_one_of_the_candidates_and_active(touches, terms):
    verdict = attribute(Facts(NOW), touches, terms)
    if verdict.partner_id is not None:
        assert verdict.partner_id in _candidate_partners(touches)
        assert verdict.partner_id != SUSPENDED.id
        assert verdict.method in terms.priority


@given(touches_strategy, terms_strategy)
def test_priority_order_is_respected(touches, terms):
    verdict = attribute(Facts(NOW), touches, terms)
    if verdict.method is None:
        return
    earlier = terms.priority[: terms.priority.index(verdict.method)]
    for method in earlier:
        alone = attribute(
            Facts(NOW), touches, OfferTerms(priority=(method,), window_days=terms.window_days)
        )
        assert alone.partner_id is None, f"{method} should have won before {verdict.method}"


@given(touches_strategy, terms_strategy)
def test_a_conversion_outside_every_window_is_organic(touches, terms):
    far = NOW + dt.timedelta(days=800)  # every click and customer binding has expired
    stale = Touches(click=touches.click, customer=touches.customer)
    verdict = attribute(Facts(far), stale, terms)
    assert verdict.partner_id is None and verdict.method is None


@given(touches_strategy, terms_strategy)
def test_attribution_is_deterministic(touches, terms):
    assert attribute(Facts(NOW), touches, terms) == attribute(Facts(NOW), touches, terms)
