"""The intake's store: one read of an order's touches, one write of its conversion with its
binding and audit entry; values round-trip exactly on either database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from affiliates.extensions import db
from affiliates.models import AuditEntry, Click, Conversion, CustomerBinding, PromoCode
from affiliates.services import intake_store
from affiliates.services.intake_store import (
    NewAuditEntry,
    NewBinding,
    NewConversion,
    PromoCodeExhausted,
    StoredConversion,
)
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, PromoCodeFactory

MSK = dt.timezone(dt.timedelta(hours=3))
AT = dt.datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=MSK)


def _new(offer_id: int, order_id: str = "O-1", **changes) -> NewConversion:
    values = dict(
        offer_id=offer_id, type="sale", order_id=order_id, amount=Decimal("12345678901.23"),
        refunded_amount=Decimal("0.00"), currency="RUB", customer_key="k" * 40,
        click_id=None, promo_code_id=None, utm_source="ref0001", utm_campaign="весна",
        partner_id=None, attribution=None, status="pending", reason=None,
        flags=["too_fast", "click_reused"], explanation=["no touch: organic", "0.00 ₽"],
        warnings=[{"field": "customer_email", "code": "dropped", "message": "Не адрес."}],
        pixel_unverified=True, commission=Decimal("0.10"), rule_id=None, rule_version=None,
        new_customer=True,
        items=[{"sku": "A-1", "category": "книги", "quantity": 2, "amount": "10.05"}],
        source="api", occurred_at=AT, hold_until=AT + dt.timedelta(days=30),
        created_at=AT + dt.timedelta(microseconds=1), updated_at=AT + dt.timedelta(seconds=1),
    )  # fmt: skip
    values.update(changes)
    return NewConversion(**values)


def _entry(after: dict | None = None) -> NewAuditEntry:
    return NewAuditEntry("conversion", "created", "tests", AT, None,
                         after or {"status": "pending", "amount": "1.00"}, "why")  # fmt: skip


def _count(model, **where) -> int:
    db.session.expire_all()
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    return int(db.session.scalar(stmt) or 0)


def _uses(code: PromoCode) -> int:
    db.session.expire_all()
    return db.session.get_one(PromoCode, code.id).uses


def test_a_new_conversion_is_written_with_its_binding_and_audit_entry():
    offer, partner = OfferFactory(), PartnerFactory()
    new = _new(offer.id, partner_id=partner.id, attribution="utm")
    binding = NewBinding(offer.id, "k" * 40, partner.id, AT)
    with intake_store.connect(db.engine) as store:
        new_id = store.write(new, binding, _entry())
    assert new_id is not None
    bound = db.session.scalars(select(CustomerBinding)).one()
    assert (bound.partner_id, bound.conversion_id, bound.attributed_at) == (partner.id, new_id, AT)
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.entity, entry.entity_id, entry.after) == (
        "conversion", new_id, {"status": "pending", "amount": "1.00"},
    )  # fmt: skip
    assert entry.before is None and entry.at == AT


def test_a_duplicate_order_gives_none_and_leaves_nothing_behind():
    offer, partner = OfferFactory(), PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=partner, max_uses=5)
    with intake_store.connect(db.engine) as store:
        first = store.write(_new(offer.id), None, _entry())
        again = store.write(
            _new(offer.id, amount=Decimal("1.00"), promo_code_id=code.id, partner_id=partner.id),
            NewBinding(offer.id, "k" * 40, partner.id, AT),
            _entry({"copy": True}),
            promo_use=code.id,
        )
    assert first is not None and again is None
    assert _count(Conversion, offer_id=offer.id) == 1
    assert _count(AuditEntry) == 1
    assert _count(CustomerBinding) == 0
    assert _uses(code) == 0  # the copy's use was rolled back with it


def test_the_same_order_of_another_type_is_another_conversion():
    offer = OfferFactory()
    with intake_store.connect(db.engine) as store:
        sale = store.write(_new(offer.id), None, _entry())
        lead = store.write(_new(offer.id, type="lead"), None, _entry())
    assert sale is not None and lead is not None and sale != lead


def test_values_round_trip_exactly():
    offer, partner = OfferFactory(), PartnerFactory()
    with intake_store.connect(db.engine) as store:
        for order_id, flag, items in (("R-1", True, None), ("R-2", False, []), ("R-3", None, [])):
            new = _new(offer.id, order_id, new_customer=flag, items=items, partner_id=partner.id)
            new_id = store.write(new, None, _entry())
            assert new_id is not None
            stored = store.existing(offer.id, "sale", order_id)
            assert stored == StoredConversion(id=new_id, **vars(new))
        new = _new(offer.id, "R-4", partner_id=partner.id)
        new_id = store.write(new, None, _entry())
    # and the ORM reads what the store wrote as the store does
    loaded = db.session.get_one(Conversion, new_id)
    for field in dataclasses.fields(NewConversion):
        assert getattr(loaded, field.name) == getattr(new, field.name), field.name
    assert loaded.amount == Decimal("12345678901.23") and loaded.occurred_at == AT
    assert loaded.items == [{"sku": "A-1", "category": "книги", "quantity": 2, "amount": "10.05"}]


def test_an_unknown_order_has_no_existing_conversion():
    offer = OfferFactory()
    with intake_store.connect(db.engine) as store:
        assert store.existing(offer.id, "sale", "nothing") is None


def test_a_stored_conversion_has_every_column_of_the_conversions_table():
    columns = {column.key for column in Conversion.__table__.columns}
    assert {field.name for field in dataclasses.fields(StoredConversion)} == columns


def test_an_exhausted_code_raises_and_writes_nothing():
    offer, partner = OfferFactory(), PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=partner, max_uses=1, uses=1)
    with intake_store.connect(db.engine) as store:
        with pytest.raises(PromoCodeExhausted):
            store.write(_new(offer.id, promo_code_id=code.id), None, _entry(), promo_use=code.id)
        assert store.write(_new(offer.id), None, _entry()) is not None  # the next write is fine
    assert _count(Conversion) == 1 and _count(AuditEntry) == 1


def test_a_code_with_uses_left_gives_one_per_conversion():
    offer, partner = OfferFactory(), PartnerFactory()
    code = PromoCodeFactory(offer=offer, partner=partner, max_uses=2)
    with intake_store.connect(db.engine) as store:
        for n in range(2):
            store.write(_new(offer.id, f"P-{n}", promo_code_id=code.id), None, _entry(),
                        promo_use=code.id)  # fmt: skip
        with pytest.raises(PromoCodeExhausted):
            store.write(_new(offer.id, "P-2"), None, _entry(), promo_use=code.id)
    assert _uses(code) == 2


def _binding() -> CustomerBinding:
    db.session.expire_all()
    return db.session.scalars(select(CustomerBinding)).one()


def test_a_lapsed_binding_passes_to_the_new_partner_and_a_live_one_stays():
    offer, first, second = OfferFactory(), PartnerFactory(), PartnerFactory()
    key, later = "k" * 40, AT + dt.timedelta(days=400)
    with intake_store.connect(db.engine) as store:
        store.write(_new(offer.id, "B-1"), NewBinding(offer.id, key, first.id, AT), _entry())
        # a first binding again (a racing first order): the one written first stays
        store.write(_new(offer.id, "B-2"), NewBinding(offer.id, key, second.id, AT), _entry())
        assert _binding().partner_id == first.id
        # a binding attributed at AT has not lapsed "before AT": it stays too
        kept = NewBinding(offer.id, key, second.id, later, lapsed_before=AT)
        store.write(_new(offer.id, "B-3"), kept, _entry())
        assert _binding().partner_id == first.id
        third = store.write(_new(offer.id, "B-4"),
                            NewBinding(offer.id, key, second.id, later,
                                       lapsed_before=later - dt.timedelta(days=365)),
                            _entry())  # fmt: skip
    bound = _binding()
    assert (bound.partner_id, bound.conversion_id, bound.attributed_at) == (second.id, third, later)


def test_the_touches_are_what_the_database_holds():
    offer = OfferFactory(max_discount_percent=Decimal("12.50"), target_cac=Decimal("1500.05"),
                         attribution_priority=["click", "utm"], require_click_for_code=True,
                         hold_days=7)  # fmt: skip
    link = LinkFactory(offer=offer)
    referrer = PartnerFactory(status="suspended")
    bound_to = PartnerFactory()
    clicked = AT - dt.timedelta(hours=2)
    db.session.execute(insert(Click), [{
        "id": "c" * 32, "link_id": link.id, "partner_id": link.partner_id,
        "offer_id": offer.id, "created_at": clicked, "ip_hash": "ip", "visitor_key": "v",
        "is_bot": True, "attributable": False,
    }])  # fmt: skip
    db.session.commit()
    with intake_store.connect(db.engine) as store:
        store.write(_new(offer.id, partner_id=bound_to.id),
                    NewBinding(offer.id, "k" * 40, bound_to.id, AT), _entry())  # fmt: skip
        found = store.touches(offer.id, "sale", "c" * 32, referrer.ref_code, "k" * 40)
        assert store.touches(offer.id + 1000, "sale", None, None, None) is None
    assert found is not None
    assert dataclasses.astuple(found.offer) == (
        offer.id, "RUB", 7, 30, ["click", "utm"], 10, True, Decimal("12.50"), Decimal("1500.05"),
        "review",
    )  # fmt: skip
    assert found.click is not None
    assert (found.click.id, found.click.created_at, found.click.is_bot,
            found.click.attributable, found.click.link_archived) == (
        "c" * 32, clicked, True, False, False)  # fmt: skip
    assert found.click.partner.id == link.partner_id and found.click.partner.active
    assert found.click_reused is False
    assert found.ref is not None and found.ref.ref_code == referrer.ref_code
    assert found.ref.partner.id == referrer.id and not found.ref.partner.active
    assert found.customer is not None
    assert (found.customer.partner.id, found.customer.attributed_at) == (bound_to.id, AT)


def test_a_click_claimed_by_an_order_of_the_same_type_is_reused():
    link = LinkFactory()
    db.session.execute(insert(Click), [{
        "id": "d" * 32, "link_id": link.id, "partner_id": link.partner_id,
        "offer_id": link.offer_id, "created_at": AT, "ip_hash": "ip", "visitor_key": "v",
    }])  # fmt: skip
    db.session.commit()
    with intake_store.connect(db.engine) as store:
        store.write(_new(link.offer_id, click_id="d" * 32), None, _entry())
        sale = store.touches(link.offer_id, "sale", "d" * 32, None, None)
        lead = store.touches(link.offer_id, "lead", "d" * 32, None, None)
    assert sale is not None and sale.click_reused
    assert lead is not None and not lead.click_reused


def test_the_rules_stamp_changes_with_the_rules():
    from affiliates.services import commission_rules

    offer = OfferFactory()

    def stamp():
        with intake_store.connect(db.engine) as store:
            found = store.touches(offer.id, "sale", None, None, None)
        assert found is not None
        return found.rules_stamp

    before = stamp()
    assert stamp() == before
    rule = commission_rules.create(db.session, {"offer_id": offer.id, "type": "sale",
                                                "kind": "fixed", "value": Decimal("5")},
                                   actor="tests")  # fmt: skip
    created = stamp()
    assert created != before
    commission_rules.deactivate(db.session, rule.id, actor="tests")
    assert stamp() != created


def test_an_integrity_error_that_is_no_repeat_is_raised_as_sqlalchemys():
    offer = OfferFactory()
    with intake_store.connect(db.engine) as store:
        with pytest.raises(IntegrityError):
            store.write(_new(offer.id, rule_id=10**9), None, _entry())  # no such rule
        assert store.write(_new(offer.id), None, _entry()) is not None
    assert _count(Conversion) == 1


def _drop(database_url: str, store: intake_store.IntakeStore) -> None:
    """What a database restart does to the store's connection."""
    pid = store.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    store.connection.rollback()
    killer = create_engine(database_url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


@pytest.mark.parametrize("use", ["read", "write"])
def test_a_lost_connection_is_an_operational_error_and_the_next_use_reconnects(database_url, use):
    if not database_url.startswith("postgresql"):
        pytest.skip("a file database does not drop its connections")
    offer = OfferFactory()
    with intake_store.connect(db.engine) as store:
        _drop(database_url, store)
        with pytest.raises(OperationalError) as raised:
            if use == "read":
                store.touches(offer.id, "sale", None, None, None)
            else:
                store.write(_new(offer.id), None, _entry())
        assert raised.value.connection_invalidated and store.connection.invalidated
    with intake_store.connect(db.engine) as store:
        assert store.touches(offer.id, "sale", None, None, None) is not None
        assert store.write(_new(offer.id), None, _entry()) is not None
