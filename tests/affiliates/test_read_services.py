"""Read services: every list and lookup takes a viewer and applies its scope itself.

Two partners, Alpha and Beta, each own links, promo codes, conversions, ledger entries and
payouts; an organic conversion belongs to nobody. A partner viewer gets NotFound for Beta's
objects (with the detail an unknown id gets) and never sees them in a list, whatever the
filters name; staff see everything; cursors walk every item once, newest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from affiliates.api.core import Principal
from affiliates.exceptions import NotFound
from affiliates.models import (
    AuditEntry,
    CommissionRule,
    Conversion,
    LedgerEntry,
    Link,
    Partner,
    Payout,
    PromoCode,
)
from affiliates.services import (
    audit,
    commission_rules,
    conversions,
    ledger,
    links,
    paging,
    payouts,
    program,
    promo_codes,
)
from affiliates.services.paging import BadCursor, Page
from affiliates.services.viewer import Viewer
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, PromoCodeFactory

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
STAFF = [Viewer.staff("admin"), Viewer.staff("analyst")]
# Placeholders in filter variants, filled with the world's ids.
BETA, OFFER = "<beta>", "<offer>"


@dataclass
class World:
    offer: Any
    archived_offer: Any
    alpha: Partner
    beta: Partner
    # each partner's id -> its objects, per resource name
    owned: dict[int, dict[str, list[Any]]] = field(default_factory=dict)


def _conversion(session: Any, offer: Any, partner_id: int | None, n: int, status: str) -> Any:
    conversion = Conversion(
        offer_id=offer.id, type="sale", order_id=f"{partner_id}-{n}", amount=Decimal("1000.00"),
        currency="RUB", partner_id=partner_id, status=status, commission=Decimal("100.00"),
        occurred_at=T0 + dt.timedelta(days=n), hold_until=T0 + dt.timedelta(days=30 + n),
    )  # fmt: skip
    session.add(conversion)
    return conversion


def _objects(session: Any, offer: Any, partner: Partner, base: int) -> dict[str, list[Any]]:
    """One partner's objects: two of each, so lists have something to page through."""
    made: dict[str, list[Any]] = {
        "links": [
            LinkFactory(partner=partner, offer=offer),
            LinkFactory(partner=partner, offer=offer, archived_at=T0),
        ],
        "promo_codes": [PromoCodeFactory(partner=partner, offer=offer) for _ in range(2)],
        "partners": [partner],
    }
    made["conversions"] = [
        _conversion(session, offer, partner.id, base, "approved"),
        _conversion(session, offer, partner.id, base + 1, "pending"),
    ]
    made["payouts"] = [
        Payout(partner_id=partner.id, currency="RUB", amount=Decimal("100.00"), status="paid"),
        Payout(partner_id=partner.id, currency="RUB", amount=Decimal("50.00"), status="pending"),
    ]
    session.add_all(made["payouts"])
    session.flush()  # the entries below name the conversion and payout ids
    made["ledger_entries"] = [
        LedgerEntry(partner_id=partner.id, currency="RUB", amount=Decimal("100.00"),
                    kind="commission", conversion_id=made["conversions"][0].id,
                    payout_id=made["payouts"][0].id, actor="tests"),
        LedgerEntry(partner_id=partner.id, currency="USD", amount=Decimal("-5.00"),
                    kind="adjustment", memo="a correction", actor="tests"),
    ]  # fmt: skip
    session.add_all(made["ledger_entries"])
    session.commit()
    return made


@pytest.fixture
def world(session: Any) -> World:
    offer = OfferFactory()
    archived = OfferFactory(status="archived")
    alpha = PartnerFactory(name="Alpha")
    beta = PartnerFactory(name="Beta", status="pending")
    found = World(offer, archived, alpha, beta)
    found.owned[alpha.id] = _objects(session, offer, alpha, 0)
    found.owned[beta.id] = _objects(session, offer, beta, 10)
    _conversion(session, offer, None, 20, "pending")  # organic: nobody's
    for payout in found.owned[alpha.id]["payouts"] + found.owned[beta.id]["payouts"]:
        after = {"amount": str(payout.amount)}
        session.add(AuditEntry(entity="payout", entity_id=payout.id, action="created",
                               actor="api-key:1:admin", after=after))  # fmt: skip
    session.add_all([
        CommissionRule(type="sale", kind="percent", value=Decimal("10")),
        CommissionRule(type="sale", kind="fixed", value=Decimal("50"), partner_id=beta.id,
                       offer_id=offer.id),
    ])  # fmt: skip
    session.commit()
    return found


@dataclass(frozen=True)
class Resource:
    """How to list and look up one kind of partner-owned object."""

    name: str
    model: type
    lister: Callable[..., Page[Any]]
    filters: Callable[..., Any]
    getter: Callable[[Any, Any, Viewer], Any]
    missing: str  # the NotFound detail, with {} for the key
    variants: tuple[dict[str, Any], ...]
    key: Callable[[Any], Any] = lambda obj: obj.id
    owner: Callable[[Any], int | None] = lambda obj: obj.partner_id


RESOURCES = [
    Resource("partners", Partner, program.list_partners, program.PartnerFilters,
             program.get_partner, "Partner {} does not exist.",
             ({}, {"status": "pending"}, {"status": "active"}),
             owner=lambda obj: obj.id),
    Resource("links", Link, links.list_links, links.LinkFilters, links.get_link,
             "Link {} does not exist.",
             ({}, {"partner_id": BETA}, {"partner_id": BETA, "archived": True},
              {"offer_id": OFFER}, {"archived": False})),
    Resource("promo_codes", PromoCode, promo_codes.list_promo_codes,
             promo_codes.PromoCodeFilters, promo_codes.get_promo_code,
             "Promo code {} does not exist.",
             ({}, {"partner_id": BETA}, {"partner_id": BETA, "offer_id": OFFER}),
             key=lambda obj: obj.code.lower()),
    Resource("conversions", Conversion, conversions.list_conversions,
             conversions.ConversionFilters, conversions.get, "Conversion {} does not exist.",
             ({}, {"partner_id": BETA}, {"partner_id": BETA, "status": "approved"},
              {"offer_id": OFFER, "status": "pending"},
              {"partner_id": BETA, "start": T0.date(), "end": (T0 + dt.timedelta(days=30)).date()},
              {"start": T0 + dt.timedelta(days=10)})),
    Resource("payouts", Payout, payouts.list_payouts, payouts.PayoutFilters, payouts.get,
             "Payout {} does not exist.",
             ({}, {"partner_id": BETA}, {"partner_id": BETA, "status": "paid"})),
    Resource("ledger_entries", LedgerEntry, ledger.list_ledger_entries, ledger.LedgerFilters,
             ledger.get_ledger_entry, "Ledger entry {} does not exist.",
             ({}, {"partner_id": BETA}, {"partner_id": BETA, "currency": "USD"},
              {"kind": "commission"}, {"partner_id": BETA, "currency": "RUB",
                                       "kind": "commission"})),
]  # fmt: skip
BY_NAME = pytest.mark.parametrize("resource", RESOURCES, ids=[r.name for r in RESOURCES])
# The lists with a partner filter (every one but the partners' own).
FILTERED = [r for r in RESOURCES if "partner_id" in r.filters.__dataclass_fields__]
BY_PARTNER = pytest.mark.parametrize("resource", FILTERED, ids=[r.name for r in FILTERED])


def _filters(resource: Resource, world: World, variant: dict[str, Any]) -> Any:
    values = {BETA: world.beta.id, OFFER: world.offer.id}
    return resource.filters(**{k: values.get(v, v) for k, v in variant.items()})


def walk(resource: Resource, session: Any, filters: Any, viewer: Viewer, limit: int) -> list[Any]:
    """Every page of a list, in order."""
    items: list[Any] = []
    cursor = None
    while True:
        page = resource.lister(session, filters, viewer, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def _all_ids(session: Any, model: type) -> list[int]:
    return list(session.scalars(select(model.id).order_by(model.id.desc())))  # type: ignore[attr-defined]


# A partner viewer --------------------------------------------------------------------------


@BY_NAME
def test_a_partner_viewer_gets_not_found_for_another_partners_object(session, world, resource):
    viewer = Viewer.partner(world.alpha.id)
    for obj in world.owned[world.beta.id][resource.name]:
        with pytest.raises(NotFound) as caught:
            resource.getter(session, resource.key(obj), viewer)
        # the same answer an id nobody has gets: the object's existence is not revealed
        assert caught.value.detail == resource.missing.format(resource.key(obj))


@BY_NAME
def test_a_partner_viewer_reads_its_own_objects_one_by_one(session, world, resource):
    viewer = Viewer.partner(world.alpha.id)
    for obj in world.owned[world.alpha.id][resource.name]:
        assert resource.getter(session, resource.key(obj), viewer).id == obj.id


@BY_NAME
def test_a_partner_viewer_never_sees_another_partners_object_in_a_list_under_any_filter(
    session, world, resource
):
    viewer = Viewer.partner(world.alpha.id)
    own = {obj.id for obj in world.owned[world.alpha.id][resource.name]}
    for variant in resource.variants:
        items = walk(resource, session, _filters(resource, world, variant), viewer, 500)
        assert {resource.owner(item) for item in items} <= {world.alpha.id}, variant
        assert {item.id for item in items} <= own
    everything = walk(resource, session, resource.filters(), viewer, 500)
    assert {item.id for item in everything} == own


@BY_PARTNER
def test_a_partner_filter_naming_another_partner_lists_the_viewers_own(session, world, resource):
    """As the API has always answered `?partner_id=<another>` for a partner key."""
    viewer = Viewer.partner(world.alpha.id)
    asked = walk(resource, session, resource.filters(partner_id=world.beta.id), viewer, 500)
    assert [i.id for i in asked] == [i.id for i in walk(resource, session, resource.filters(),
                                                        viewer, 500)]  # fmt: skip


# Staff -------------------------------------------------------------------------------------


@BY_NAME
@pytest.mark.parametrize("viewer", STAFF, ids=["admin", "analyst"])
def test_staff_see_every_partners_objects(session, world, resource, viewer):
    items = walk(resource, session, resource.filters(), viewer, 500)
    assert [item.id for item in items] == _all_ids(session, resource.model)
    for obj in world.owned[world.beta.id][resource.name]:
        assert resource.getter(session, resource.key(obj), viewer).id == obj.id


@BY_PARTNER
def test_staff_filter_by_partner(session, world, resource):
    items = walk(resource, session, resource.filters(partner_id=world.beta.id), STAFF[0], 500)
    assert {item.id for item in items} == {o.id for o in world.owned[world.beta.id][resource.name]}


def test_staff_see_organic_conversions_and_partners_do_not(session, world):
    organic = session.scalar(select(Conversion).where(Conversion.partner_id.is_(None)))
    staff = conversions.list_conversions(session, conversions.ConversionFilters(), STAFF[0])
    assert organic.id in [c.id for c in staff.items]
    with pytest.raises(NotFound):
        conversions.get(session, organic.id, Viewer.partner(world.alpha.id))


# Paging ------------------------------------------------------------------------------------


@BY_NAME
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_paging_with_cursors_walks_every_item_once_newest_first(session, world, resource, limit):
    for viewer in (STAFF[0], Viewer.partner(world.beta.id)):
        ids = [item.id for item in walk(resource, session, resource.filters(), viewer, limit)]
        assert ids == sorted(ids, reverse=True)
        assert len(ids) == len(set(ids))
        expected = (
            _all_ids(session, resource.model)
            if viewer.is_staff
            else sorted((o.id for o in world.owned[world.beta.id][resource.name]), reverse=True)
        )
        assert ids == expected


def test_a_page_of_exactly_limit_items_has_no_next_cursor(session, world):
    page = links.list_links(session, links.LinkFilters(), Viewer.partner(world.alpha.id), limit=2)
    assert len(page.items) == 2 and page.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage!", paging.encode_cursor(1)[:-1] + "%", "aWQ6LTU"])
def test_a_cursor_no_list_gave_out_is_the_422_naming_cursor(session, world, cursor):
    with pytest.raises(BadCursor) as caught:
        payouts.list_payouts(session, payouts.PayoutFilters(), STAFF[0], cursor=cursor)
    assert caught.value.status == 422
    assert caught.value.title == "Validation failed"
    assert caught.value.detail == "The cursor is not one this API gave out."
    assert caught.value.errors == [{"field": "cursor", "message": "Invalid cursor."}]


def test_a_cursor_is_the_last_id_of_the_page_before(session):
    assert paging.decode_cursor(paging.encode_cursor(12345)) == 12345


# One service call per view -----------------------------------------------------------------


def test_a_view_can_list_a_partners_conversions_in_one_service_call(session, world):
    page = conversions.list_conversions(
        session, conversions.ConversionFilters(), Viewer.partner(world.alpha.id)
    )
    mine = world.owned[world.alpha.id]["conversions"]
    assert [c.id for c in page.items] == sorted((c.id for c in mine), reverse=True)
    assert page.next_cursor is None


def test_conversions_list_by_status_and_period(session, world):
    filters = conversions.ConversionFilters(status="pending", start=T0.date(), end=T0.date()
                                            + dt.timedelta(days=1))  # fmt: skip
    page = conversions.list_conversions(session, filters, Viewer.partner(world.alpha.id))
    # a date `end` includes that whole day: alpha's pending one occurred on day 1
    assert [c.id for c in page.items] == [world.owned[world.alpha.id]["conversions"][1].id]


# Offers, audit entries and commission rules ----------------------------------------------


def test_a_partner_viewer_sees_the_active_offers_and_not_the_archived_ones(session, world):
    viewer = Viewer.partner(world.alpha.id)
    page = program.list_offers(session, program.OfferFilters(), viewer)
    assert [o.id for o in page.items] == [world.offer.id]
    assert program.get_offer(session, world.offer.id, viewer).id == world.offer.id
    with pytest.raises(NotFound) as caught:
        program.get_offer(session, world.archived_offer.id, viewer)
    assert caught.value.detail == f"Offer {world.archived_offer.id} does not exist."
    archived = program.list_offers(session, program.OfferFilters(status="archived"), viewer)
    assert archived.items == []


def test_staff_see_every_offer(session, world):
    page = program.list_offers(session, program.OfferFilters(), STAFF[1])
    assert [o.id for o in page.items] == [world.archived_offer.id, world.offer.id]
    assert program.get_offer(session, world.archived_offer.id, STAFF[1]).status == "archived"


def test_a_partner_viewer_sees_no_audit_entries_whatever_the_filter(session, world):
    viewer = Viewer.partner(world.alpha.id)
    alphas_payout = world.owned[world.alpha.id]["payouts"][0]
    for filters in (audit.AuditFilters(), audit.AuditFilters("payout", alphas_payout.id)):
        assert audit.list_audit_entries(session, filters, viewer).items == []
    entry = session.scalar(select(AuditEntry))
    with pytest.raises(NotFound) as caught:
        audit.get_audit_entry(session, entry.id, viewer)
    assert caught.value.detail == f"Audit entry {entry.id} does not exist."


def test_staff_list_audit_entries_by_entity_object_and_actor(session, world):
    payout = world.owned[world.beta.id]["payouts"][1]
    page = audit.list_audit_entries(session, audit.AuditFilters("payout", payout.id), STAFF[0])
    assert [(e.entity, e.entity_id) for e in page.items] == [("payout", payout.id)]
    by_actor = audit.list_audit_entries(session, audit.AuditFilters(actor="api-key:1:admin"),
                                        STAFF[1], limit=500)  # fmt: skip
    assert len(by_actor.items) == 4
    assert audit.list_audit_entries(session, audit.AuditFilters(actor="cli"), STAFF[0]).items == []
    assert audit.get_audit_entry(session, page.items[0].id, STAFF[1]).entity_id == payout.id


def test_a_partner_viewer_sees_no_commission_rules_even_its_own(session, world):
    rules = commission_rules.RuleFilters()
    assert commission_rules.list_rules(session, rules, Viewer.partner(world.beta.id)).items == []
    assert len(commission_rules.list_rules(session, rules, STAFF[0]).items) == 2


def test_a_partner_viewer_reads_only_its_own_balance(session, world):
    viewer = Viewer.partner(world.alpha.id)
    assert set(ledger.balances(session, world.alpha.id, viewer)) == {"RUB", "USD"}
    with pytest.raises(NotFound) as caught:
        ledger.balances(session, world.beta.id, viewer)
    assert caught.value.detail == f"Partner {world.beta.id} does not exist."


# The viewer itself -------------------------------------------------------------------------


def test_staff_viewers_have_a_role_and_no_partner():
    for role in ("admin", "analyst"):
        viewer = Viewer.staff(role)
        assert viewer.is_staff and viewer.role == role and viewer.partner_id is None


def test_a_partner_viewer_is_bound_to_one_partner():
    viewer = Viewer.partner(7)
    assert not viewer.is_staff and viewer.partner_id == 7 and viewer.role == "partner"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Viewer.staff("partner"),
        lambda: Viewer.staff("root"),
        lambda: Viewer("partner"),
        lambda: Viewer("admin", 3),
    ],
)
def test_a_viewer_that_is_neither_staff_nor_one_partner_cannot_be_made(make):
    with pytest.raises(ValueError, match="viewer"):
        make()


def test_a_partner_viewer_forces_its_own_partner_and_staff_keep_theirs():
    assert Viewer.partner(7).partner_filter(8) == 7
    assert Viewer.partner(7).partner_filter(None) == 7
    assert Viewer.staff().partner_filter(8) == 8
    assert Viewer.staff().partner_filter(None) is None


def test_a_partner_viewer_acting_for_another_partner_gets_not_found():
    assert Viewer.partner(7).acting_for(None) == 7
    assert Viewer.partner(7).acting_for(7) == 7
    assert Viewer.staff().acting_for(8) == 8
    with pytest.raises(NotFound) as caught:
        Viewer.partner(7).acting_for(8)
    assert caught.value.detail == "Partner 8 does not exist."


@pytest.mark.parametrize(
    ("scope", "partner_id", "expected"),
    [
        ("admin", None, Viewer.staff("admin")),
        ("conversions", None, Viewer.staff("analyst")),
        ("partner", 7, Viewer.partner(7)),
    ],
)
def test_an_api_key_maps_to_its_viewer_in_one_place(scope, partner_id, expected):
    assert Principal(key_id=1, scope=scope, partner_id=partner_id).viewer == expected


# The API only translates ---------------------------------------------------------------------


def test_no_module_under_affiliates_api_builds_a_query():
    api = Path(__file__).resolve().parents[2] / "affiliates" / "api"
    offenders = [p.name for p in sorted(api.rglob("*.py")) if "select(" in p.read_text("utf-8")]
    assert offenders == [], "queries belong in the read services, not in the API"
