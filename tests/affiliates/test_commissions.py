"""The commission engine as pure functions: which rule pays, how much, and why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliates.commissions import Item, Order, Rule, Tier, choose, commission, matches

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
OFFER, OTHER_OFFER = 1, 2
ANNA, BORIS = 7, 8
NBSP = "\u00a0"


def rule(**kw) -> Rule:  # type: ignore[no-untyped-def]
    terms = {"id": 1, "version": 1, "type": "sale", "kind": "percent", "value": Decimal("10")}
    return Rule(**(terms | kw))


def order(**kw) -> Order:  # type: ignore[no-untyped-def]
    facts = {
        "offer_id": OFFER,
        "partner_id": ANNA,
        "type": "sale",
        "amount": Decimal("1000.00"),
        "occurred_at": T0,
    }
    return Order(**(facts | kw))


def item(amount: str, category: str | None = None, quantity: int = 1, sku: str = "sku") -> Item:
    return Item(sku=sku, amount=Decimal(amount), quantity=quantity, category=category)


def pays(rules: list[Rule], the_order: Order) -> Decimal:
    return commission(rules, the_order).amount


# Matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "facts", "expected"),
    [
        ({"type": "sale"}, {"type": "sale"}, True),
        ({"type": "lead"}, {"type": "sale"}, False),
        ({"offer_id": OFFER}, {}, True),
        ({"offer_id": OTHER_OFFER}, {}, False),
        ({"partner_id": ANNA}, {}, True),
        ({"partner_id": BORIS}, {}, False),
        ({"partner_id": ANNA}, {"partner_id": None}, False),
        ({"active": False}, {}, False),
        ({"starts_at": T0}, {}, True),
        ({"starts_at": T0 + dt.timedelta(microseconds=1)}, {}, False),
        ({"ends_at": T0 + dt.timedelta(microseconds=1)}, {}, True),
        ({"ends_at": T0}, {}, False),
        ({"starts_at": T0 - HOUR, "ends_at": T0 + HOUR}, {}, True),
        ({"new_customers_only": True}, {"new_customer": True}, True),
        ({"new_customers_only": True}, {"new_customer": False}, False),
        ({"new_customers_only": True}, {"new_customer": None}, False),
        ({"new_customers_only": False}, {"new_customer": False}, True),
        ({"min_order_amount": Decimal("1000.00")}, {}, True),
        ({"min_order_amount": Decimal("1000.01")}, {}, False),
        ({"category": "electronics"}, {"items": (item("10.00", "electronics"),)}, True),
        ({"category": "electronics"}, {"items": (item("10.00", "books"),)}, False),
        ({"category": "electronics"}, {"items": (item("10.00"),)}, False),
        ({"category": "electronics"}, {"items": ()}, False),
    ],
)
def test_a_rule_matches_only_an_order_that_meets_every_condition(terms, facts, expected):
    assert matches(rule(**terms), order(**facts)) is expected


def test_the_period_is_half_open_so_back_to_back_rules_never_both_match():
    march = rule(id=1, starts_at=T0 - 24 * HOUR, ends_at=T0)
    april = rule(id=2, starts_at=T0, ends_at=T0 + 24 * HOUR)
    assert [r.id for r in (march, april) if matches(r, order())] == [2]
    earlier = order(occurred_at=T0 - dt.timedelta(microseconds=1))
    assert [r.id for r in (march, april) if matches(r, earlier)] == [1]


def test_a_category_percent_applies_to_that_categorys_items_only():
    items = (
        item("600.00", "electronics", sku="tv"),
        item("400.00", "electronics", sku="radio"),
        item("500.00", "books", sku="novel"),
    )
    result = commission(
        [rule(category="electronics")], order(amount=Decimal("1500.00"), items=items)
    )
    assert result.amount == Decimal("100.00")
    assert result.explanation == f"10% of 1{NBSP}000.00 RUB on 2 items in electronics = 100.00 RUB"


def test_a_category_rule_counts_the_quantity_of_items_not_lines():
    items = (item("300.00", "electronics", quantity=3), item("50.00", "books"))
    result = commission(
        [rule(category="electronics")], order(amount=Decimal("350.00"), items=items)
    )
    assert result.amount == Decimal("30.00")
    assert "on 3 items in electronics" in result.explanation


def test_a_fixed_category_rule_pays_its_amount_whatever_the_items_cost():
    items = (item("1.00", "electronics"), item("999.00", "books"))
    fixed = rule(kind="fixed", value=Decimal("250.00"), category="electronics")
    assert pays([fixed], order(items=items)) == Decimal("250.00")


def test_a_category_percent_never_pays_on_more_than_what_remains_of_the_order():
    items = (item("1000.00", "electronics"),)
    refunded = order(amount=Decimal("400.00"), items=items)
    assert pays([rule(category="electronics")], refunded) == Decimal("40.00")
    assert pays([rule(category="electronics")], order(amount=Decimal("0.00"), items=items)) == 0


# Resolution --------------------------------------------------------------------------------


def test_the_highest_priority_wins_whatever_the_scope():
    specific = rule(id=1, partner_id=ANNA, offer_id=OFFER, priority=0)
    general = rule(id=2, priority=5)
    assert choose([specific, general], order()) == general


def test_on_a_priority_tie_a_partner_rule_beats_an_offer_rule_beats_a_global_one():
    partner = rule(id=1, partner_id=ANNA)
    offer = rule(id=2, offer_id=OFFER)
    program = rule(id=3)
    assert choose([program, offer, partner], order()) == partner
    assert choose([program, offer], order()) == offer
    assert choose([program], order()) == program


def test_a_partner_rule_for_any_offer_beats_an_offer_rule_on_a_tie():
    assert choose([rule(id=2, offer_id=OFFER), rule(id=1, partner_id=ANNA)], order()).id == 1


def test_on_a_priority_and_scope_tie_the_newest_rule_wins():
    old = rule(id=5, created_at=T0 - 24 * HOUR)
    new = rule(id=3, created_at=T0 - HOUR)
    assert choose([old, new], order()) == new
    assert choose([new, old], order()) == new


def test_rules_published_at_the_same_moment_are_ordered_by_id():
    first, second = rule(id=3, created_at=T0), rule(id=4, created_at=T0)
    assert choose([second, first], order()) == second
    assert choose([first, second], order()) == second


def test_a_higher_priority_rule_that_does_not_match_is_passed_over():
    leads = rule(id=1, type="lead", priority=100)
    sales = rule(id=2, priority=0)
    assert choose([leads, sales], order()) == sales


def test_no_matching_rule_pays_nothing_and_says_so():
    result = commission([rule(type="lead")], order())
    assert result.amount == Decimal("0.00")
    assert (result.rule_id, result.rule_version) == (None, None)
    assert "no commission rule matches" in result.explanation


def test_an_organic_order_pays_nothing_even_when_a_global_rule_exists():
    result = commission([rule()], order(partner_id=None))
    assert str(result.amount) == "0.00"
    assert result.rule_id is None
    assert "organic" in result.explanation


def test_the_commission_names_the_rule_and_version_that_paid():
    result = commission([rule(id=9, version=4)], order())
    assert (result.rule_id, result.rule_version) == (9, 4)
    assert result.steps[0] == "rule 9 v4"


# Amounts ------------------------------------------------------------------------------------


def test_a_fixed_rule_pays_its_value_whatever_the_amount():
    result = commission([rule(kind="fixed", value=Decimal("300.00"))], order())
    assert result.amount == Decimal("300.00")
    assert result.explanation == "fixed 300.00 RUB"


def test_a_percent_rule_pays_that_share_of_the_amount():
    result = commission([rule(value=Decimal("12.5"))], order(amount=Decimal("2000.00")))
    assert result.amount == Decimal("250.00")
    assert result.explanation == f"12.5% of 2{NBSP}000.00 RUB = 250.00 RUB"


def test_a_fixed_lead_bounty_pays_on_a_lead_without_an_amount():
    bounty = rule(type="lead", kind="fixed", value=Decimal("150.00"))
    assert pays([bounty], order(type="lead", amount=Decimal("0.00"))) == Decimal("150.00")


@pytest.mark.parametrize(
    ("month_conversions", "expected"),
    [(0, "100.00"), (9, "100.00"), (10, "150.00"), (49, "150.00"), (50, "200.00"), (900, "200.00")],
)
def test_tiers_pick_the_value_by_the_partners_conversions_this_month(month_conversions, expected):
    tiers = (Tier(50, Decimal("200.00")), Tier(10, Decimal("150.00")))
    tiered = rule(kind="fixed", value=Decimal("100.00"), tiers=tiers)
    result = commission([tiered], order(month_conversions=month_conversions))
    assert result.amount == Decimal(expected)
    assert ("tier for" in " ".join(result.steps)) is (month_conversions >= 10)


def test_a_percent_tier_replaces_the_percentage():
    tiered = rule(value=Decimal("5"), tiers=(Tier(3, Decimal("8")),))
    result = commission([tiered], order(month_conversions=3))
    assert result.amount == Decimal("80.00")
    assert "tier for 3+ conversions this month (3 so far)" in result.steps


def test_a_cap_bounds_the_commission():
    result = commission([rule(value=Decimal("50"), cap=Decimal("120.00"))], order())
    assert result.amount == Decimal("120.00")
    assert result.explanation.endswith("; capped at the rule's cap 120.00 RUB")


def test_a_commission_under_the_cap_is_left_alone_and_not_called_capped():
    result = commission([rule(cap=Decimal("500.00"))], order())
    assert result.amount == Decimal("100.00")
    assert "capped" not in result.explanation


def test_the_target_cac_caps_a_new_customers_commission_when_the_rule_has_no_cap():
    new = order(new_customer=True, target_cac=Decimal("80.00"))
    result = commission([rule()], new)
    assert result.amount == Decimal("80.00")
    assert result.explanation.endswith("; capped at the target CAC 80.00 RUB")


@pytest.mark.parametrize("new_customer", [False, None])
def test_the_target_cac_does_not_cap_a_returning_or_unknown_customer(new_customer):
    returning = order(new_customer=new_customer, target_cac=Decimal("80.00"))
    assert pays([rule()], returning) == Decimal("100.00")


def test_the_rules_own_cap_wins_over_the_target_cac_even_when_higher():
    new = order(new_customer=True, target_cac=Decimal("80.00"))
    assert pays([rule(cap=Decimal("90.00"))], new) == Decimal("90.00")


def test_the_issues_example_reads_as_one_sentence():
    items = (
        item("700.00", "electronics", sku="phone"),
        item("300.00", "electronics", sku="case"),
        item("500.00", "books", sku="novel"),
    )
    facts = order(
        amount=Decimal("1500.00"), items=items, new_customer=True, target_cac=Decimal("80.00")
    )
    result = commission([rule(category="electronics")], facts)
    assert result.amount == Decimal("80.00")
    assert result.explanation == (
        f"10% of 1{NBSP}000.00 RUB on 2 items in electronics = 100.00 RUB; "
        "capped at the target CAC 80.00 RUB"
    )


# Rounding -----------------------------------------------------------------------------------


def test_rounding_is_half_up_not_bankers():
    assert pays([rule()], order(amount=Decimal("0.25"))) == Decimal("0.03")
    assert pays([rule()], order(amount=Decimal("0.45"))) == Decimal("0.05")


def test_rounding_happens_once_on_the_total_not_per_item():
    # 5% of 1.05 is 0.0525 -> 0.05 per item, 0.15 for three; of the total 3.15 it is 0.1575 -> 0.16
    items = tuple(item("1.05", "tea", sku=f"t{n}") for n in range(3))
    result = commission(
        [rule(value=Decimal("5"), category="tea")], order(amount=Decimal("3.15"), items=items)
    )
    assert result.amount == Decimal("0.16")


def test_a_yen_commission_rounds_to_whole_yen_once():
    # 12.5% of 333 is 41.625 -> 42 per item, 126 for three; of the total 999 it is 124.875 -> 125
    items = tuple(item("333.00", "games", sku=f"g{n}") for n in range(3))
    facts = order(amount=Decimal("999.00"), items=items, currency="JPY", minor_units=0)
    result = commission([rule(value=Decimal("12.5"), category="games")], facts)
    assert result.amount == Decimal("125.00")
    assert str(result.amount) == "125.00"


def test_a_yen_half_rounds_up():
    facts = order(amount=Decimal("1005.00"), currency="JPY", minor_units=0)
    assert pays([rule()], facts) == Decimal("101.00")


def test_the_commission_always_has_two_places():
    assert str(pays([rule(kind="fixed", value=Decimal("7"))], order())) == "7.00"
    assert str(pays([rule(value=Decimal("33.333"))], order(amount=Decimal("1.00")))) == "0.33"


# Properties -------------------------------------------------------------------------------

CATEGORIES = st.sampled_from(["electronics", "books", None])


def grid_money(minor_units: int, max_value: int = 100_000) -> st.SearchStrategy[Decimal]:
    """Amounts on the currency's grid (whole yen, kopecks), as stored money has them."""
    scale = 10**minor_units
    return st.integers(0, max_value * scale).map(lambda n: Decimal(n).scaleb(-minor_units))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Rule], Order]:
    minor_units = draw(st.sampled_from([0, 2]))
    money = grid_money(minor_units)
    maybe_money = st.none() | money
    moments = st.one_of(st.none(), st.none(), st.integers(-48, 48).map(lambda h: T0 + h * HOUR))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=0, max_size=8, unique=True))
    rules = []
    for rule_id in ids:
        kind = draw(st.sampled_from(["fixed", "percent"]))
        values = st.integers(0, 100).map(Decimal) if kind == "percent" else money
        value = draw(values)
        tiers = draw(
            st.lists(
                st.builds(Tier, st.integers(0, 20), values),
                max_size=3,
                unique_by=lambda t: t.min_conversions,
            )
        )
        rules.append(
            Rule(
                id=rule_id,
                version=draw(st.integers(1, 5)),
                type=draw(st.sampled_from(["sale", "sale", "lead"])),
                kind=kind,
                value=value,
                offer_id=draw(st.sampled_from([None, OFFER, OTHER_OFFER])),
                partner_id=draw(st.sampled_from([None, ANNA, BORIS])),
                tiers=tuple(tiers),
                category=draw(CATEGORIES),
                new_customers_only=draw(st.sampled_from([False, False, True])),
                min_order_amount=draw(st.none() | st.none() | money),
                cap=draw(maybe_money),
                priority=draw(st.integers(-2, 2)),
                starts_at=draw(moments),
                ends_at=draw(moments),
                active=draw(st.sampled_from([True, True, True, False])),
                created_at=draw(st.none() | st.sampled_from([T0 - HOUR, T0 - 2 * HOUR])),
            )
        )
    items = draw(
        st.lists(
            st.builds(
                Item,
                st.just("sku"),
                money,
                st.integers(1, 5),
                CATEGORIES,
            ),
            max_size=4,
        )
    )
    facts = Order(
        offer_id=draw(st.sampled_from([OFFER, OTHER_OFFER])),
        partner_id=draw(st.sampled_from([ANNA, ANNA, BORIS, None])),
        type=draw(st.sampled_from(["sale", "sale", "lead"])),
        amount=draw(money),
        occurred_at=T0 + draw(st.integers(-60, 60)) * HOUR,
        currency="JPY" if minor_units == 0 else "RUB",
        items=tuple(items),
        new_customer=draw(st.none() | st.booleans()),
        month_conversions=draw(st.integers(0, 25)),
        target_cac=draw(maybe_money),
        minor_units=minor_units,
    )
    return rules, facts


@given(scenarios(), st.randoms(use_true_random=False))
def test_resolution_is_deterministic_and_ignores_the_order_of_the_rules(scenario, random):
    rules, facts = scenario
    shuffled = list(rules)
    random.shuffle(shuffled)
    assert choose(shuffled, facts) == choose(rules, facts)
    assert commission(shuffled, facts) == commission(rules, facts)
    assert commission(rules, facts) == commission(rules, facts)


@given(scenarios())
def test_the_chosen_rule_always_matches_and_none_is_chosen_only_when_none_matches(scenario):
    rules, facts = scenario
    chosen = choose(rules, facts)
    if chosen is None:
        assert not any(matches(r, facts) for r in rules)
    else:
        assert matches(chosen, facts)
        assert chosen in rules


@given(scenarios())
def test_a_commission_is_never_negative_nor_above_its_bounds(scenario):
    rules, facts = scenario
    result = commission(rules, facts)
    assert result.amount >= 0
    assert result.amount == result.amount.quantize(Decimal("0.01"))
    assert result.amount == result.amount.quantize(Decimal(1).scaleb(-facts.minor_units))
    chosen = choose(rules, facts)
    if chosen is None or facts.partner_id is None:
        assert result.amount == 0
        assert result.rule_id is None
        return
    assert (result.rule_id, result.rule_version) == (chosen.id, chosen.version)
    cap = chosen.cap
    if cap is None and facts.new_customer and facts.target_cac is not None:
        cap = facts.target_cac
    if cap is not None:
        assert result.amount <= cap
    if chosen.kind == "percent":
        assert result.amount <= facts.amount


@given(
    st.lists(st.builds(Item, st.just("sku"), grid_money(2), st.integers(1, 5), CATEGORIES)),
    grid_money(2),
    st.integers(0, 100),
)
def test_a_category_percent_never_pays_more_than_that_share_of_the_amount(items, amount, percent):
    facts = order(amount=amount, items=tuple(items))
    result = commission([rule(value=Decimal(percent), category="electronics")], facts)
    assert 0 <= result.amount <= amount
    assert result.amount <= (amount * percent / 100).quantize(Decimal("0.01"), "ROUND_HALF_UP")
