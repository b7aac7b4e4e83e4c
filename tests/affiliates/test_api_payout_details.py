"""Payout details: a partner's method (bank transfer, card, SBP) and its fields, checked on the
way in, masked on the way out, audited on every change, and only ever the partner's own."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from affiliates.extensions import db
from affiliates.models import AuditEntry, PayoutDetails
from tests.conftest import bearer
from tests.factories import PartnerFactory, partner_key
from tests.helpers import T0

BANK = {"method": "bank_transfer", "holder_name": "ООО «Ромашка»", "bank_name": "ПАО Сбербанк",
        "bic": "044525225", "account_number": "40702810200000012345",
        "correspondent_account": "30101810400000000225", "inn": "7707083893"}  # fmt: skip
CARD = {"method": "card", "holder_name": "Анна Смирнова", "card_number": "4111 1111 1111 1111"}
SBP = {"method": "sbp", "holder_name": "Иван Петров", "bank_name": "Т-Банк",
       "phone": "8 (912) 345-67-89"}  # fmt: skip
FULL_NUMBERS = ("40702810200000012345", "4111111111111111", "79123456789", "9123456789")


pytestmark = pytest.mark.usefixtures("clock")


def url(partner_id: int) -> str:
    return f"/api/v1/partners/{partner_id}/payout-details"


def put(client, headers, partner_id, body):  # type: ignore[no-untyped-def]
    return client.put(url(partner_id), json=body, headers=headers)


def error_fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return [error["field"] for error in response.get_json()["errors"]]


def stored(partner_id: int) -> PayoutDetails | None:
    db.session.expire_all()
    return db.session.scalar(select(PayoutDetails).where(PayoutDetails.partner_id == partner_id))


def audits(partner_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "payout_details", AuditEntry.entity_id == partner_id)
            .order_by(AuditEntry.id)
        )
    )


# Each method, accepted and shown masked ------------------------------------------------------


def test_a_bank_transfer_is_stored_and_shown_with_the_account_number_masked(client, admin_headers):
    partner = PartnerFactory()
    response = put(client, admin_headers, partner.id, BANK)
    assert response.status_code == 200, response.json
    assert response.json == {
        "partner_id": partner.id, "method": "bank_transfer", "holder_name": "ООО «Ромашка»",
        "bank_name": "ПАО Сбербанк", "bic": "044525225", "account_number_masked": "**** 2345",
        "correspondent_account": "30101810400000000225", "inn": "7707083893",
        "updated_at": "2026-03-10T12:00:00Z",
    }  # fmt: skip
    assert client.get(url(partner.id), headers=admin_headers).json == response.json
    assert stored(partner.id).account_number == "40702810200000012345"


def test_a_bank_transfer_needs_no_inn_or_correspondent_account(client, admin_headers):
    partner = PartnerFactory()
    body = {k: v for k, v in BANK.items() if k not in ("inn", "correspondent_account")}
    response = put(client, admin_headers, partner.id, body)
    assert response.status_code == 200, response.json
    assert (response.json["inn"], response.json["correspondent_account"]) == (None, None)


def test_a_card_is_stored_as_digits_and_shown_by_its_last_four(client, admin_headers):
    partner = PartnerFactory()
    response = put(client, admin_headers, partner.id, CARD)
    assert response.status_code == 200, response.json
    assert response.json == {"partner_id": partner.id, "method": "card",
                             "holder_name": "Анна Смирнова", "card_number_masked": "**** 1111",
                             "updated_at": "2026-03-10T12:00:00Z"}  # fmt: skip
    assert stored(partner.id).card_number == "4111111111111111"


@pytest.mark.parametrize(
    "phone",
    ["8 (912) 345-67-89", "+7 912 345-67-89", "+7 (912) 345 67 89", "89123456789", "79123456789",
     "+79123456789", "912 345-67-89", "9123456789", "8.912.345.67.89"],
)  # fmt: skip
def test_an_sbp_phone_is_normalised_to_plus_seven(client, admin_headers, phone):
    partner = PartnerFactory()
    response = put(client, admin_headers, partner.id, {**SBP, "phone": phone})
    assert response.status_code == 200, response.json
    assert response.json["phone_masked"] == "+7 *** ***-67-89"
    assert stored(partner.id).phone == "+79123456789"


@pytest.mark.parametrize("body", [BANK, CARD, SBP], ids=lambda b: b["method"])
def test_no_response_shows_a_full_card_account_or_phone_number(client, admin_headers, body):
    partner = PartnerFactory()
    for response in (put(client, admin_headers, partner.id, body),
                     client.get(url(partner.id), headers=admin_headers)):  # fmt: skip
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert not any(number in text for number in FULL_NUMBERS), text


# Bad input: 422 naming the field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BANK, "account_number": "4070281020000001234"}, "account_number"),  # 19 digits
        ({**BANK, "account_number": "407028102000000123456"}, "account_number"),  # 21
        ({**BANK, "account_number": "4070281020000001234X"}, "account_number"),
        ({**BANK, "account_number": 40702810200000012345}, "account_number"),  # a number
        ({**BANK, "account_number": "40702810300000012345"}, "account_number"),  # control key
        ({**BANK, "bic": "04452522"}, "bic"),
        ({**BANK, "bic": "0445252250"}, "bic"),
        ({**BANK, "bic": "14452522"}, "bic"),
        ({**BANK, "bic": "144525225"}, "bic"),  # not a Russian BIC
        ({**BANK, "inn": "770708389"}, "inn"),
        ({**BANK, "inn": "77070838931"}, "inn"),  # 11 digits
        ({**BANK, "inn": "7707083894"}, "inn"),  # check digit
        ({**BANK, "inn": "500100732258"}, "inn"),  # check digits of a person's INN
        ({**BANK, "correspondent_account": "30101810400000000226"}, "correspondent_account"),
        ({**BANK, "correspondent_account": "40702810200000012345"}, "correspondent_account"),
        ({**BANK, "correspondent_account": "301"}, "correspondent_account"),
        ({**BANK, "holder_name": "   "}, "holder_name"),
        ({**BANK, "bank_name": "x" * 201}, "bank_name"),
        ({k: v for k, v in BANK.items() if k != "bank_name"}, "bank_name"),
        ({k: v for k, v in BANK.items() if k != "account_number"}, "account_number"),
        ({**BANK, "card_number": "4111111111111111"}, "card_number"),  # another method's field
        ({**CARD, "card_number": "4111 1111 1111 1112"}, "card_number"),  # Luhn
        ({**CARD, "card_number": "411111111116"}, "card_number"),  # 12 digits
        ({**CARD, "card_number": "41111111111111111113"}, "card_number"),  # 20 digits
        ({**CARD, "card_number": "4111-1111-1111-111a"}, "card_number"),
        ({**CARD, "card_number": ""}, "card_number"),
        ({**CARD, "card_number": "4" * 100}, "card_number"),
        ({**CARD, "card_number": None}, "card_number"),
        ({k: v for k, v in CARD.items() if k != "holder_name"}, "holder_name"),
        ({**CARD, "phone": "+79123456789"}, "phone"),
        ({**SBP, "phone": "+1 212 555 01 00"}, "phone"),
        ({**SBP, "phone": "8 (812) 345-67-89"}, "phone"),  # a landline: SBP pays a mobile
        ({**SBP, "phone": "+8 912 345 67 89"}, "phone"),
        ({**SBP, "phone": "8 912 345 67 8"}, "phone"),
        ({**SBP, "phone": "8 912 345 67 899"}, "phone"),
        ({**SBP, "phone": "call me"}, "phone"),
        ({**SBP, "phone": "+7 912 345+67-89"}, "phone"),
        ({**SBP, "phone": 89123456789}, "phone"),
        ({k: v for k, v in SBP.items() if k != "bank_name"}, "bank_name"),
        ({**SBP, "method": "cash"}, "method"),
        ({k: v for k, v in SBP.items() if k != "method"}, "method"),
        ({**SBP, "method": ["sbp"]}, "method"),
        ({**SBP, "method": None}, "method"),
    ],
)
def test_bad_payout_details_are_422_naming_the_field_and_change_nothing(
    client, admin_headers, body, field
):
    partner = PartnerFactory()
    assert put(client, admin_headers, partner.id, CARD).status_code == 200
    before = client.get(url(partner.id), headers=admin_headers).json
    assert error_fields(put(client, admin_headers, partner.id, body)) == [field]
    assert client.get(url(partner.id), headers=admin_headers).json == before
    assert len(audits(partner.id)) == 1


def test_every_bad_field_is_named_at_once(client, admin_headers):
    partner = PartnerFactory()
    body = {**BANK, "bic": "1", "account_number": "2", "inn": "3", "correspondent_account": "4"}
    fields = error_fields(put(client, admin_headers, partner.id, body))
    assert sorted(fields) == ["account_number", "bic", "correspondent_account", "inn"]


def test_a_control_key_error_says_which_numbers_disagree(client, admin_headers):
    partner = PartnerFactory()
    response = put(
        client, admin_headers, partner.id, {**BANK, "account_number": "40702810300000012345"}
    )
    (error,) = response.json["errors"]
    assert "BIC" in error["message"] and "Value error" not in error["message"]


def test_a_body_that_is_not_an_object_is_400(client, admin_headers):
    partner = PartnerFactory()
    response = client.put(url(partner.id), data=json.dumps([CARD]), headers=admin_headers,
                          content_type="application/json")  # fmt: skip
    assert response.status_code == 400


# Access: admin any partner, a partner only its own -------------------------------------------


def test_a_partner_sets_and_reads_its_own_payout_details(client):
    partner = PartnerFactory()
    headers = bearer(partner_key(partner))
    assert put(client, headers, partner.id, SBP).status_code == 200
    response = client.get(url(partner.id), headers=headers)
    assert response.status_code == 200 and response.json["method"] == "sbp"
    (entry,) = audits(partner.id)
    assert entry.actor.endswith(":partner")


def test_another_partners_payout_details_answer_404_and_stay_unchanged(client, admin_headers):
    partner, other = PartnerFactory(), PartnerFactory()
    assert put(client, admin_headers, other.id, BANK).status_code == 200
    headers = bearer(partner_key(partner))
    for response in (client.get(url(other.id), headers=headers),
                     put(client, headers, other.id, CARD),
                     client.get(url(999_999), headers=headers),
                     put(client, headers, 999_999, CARD)):  # fmt: skip
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    assert stored(other.id).method == "bank_transfer"
    assert len(audits(other.id)) == 1


def test_another_partners_id_answers_like_an_unknown_one(client, admin_headers):
    partner, other = PartnerFactory(), PartnerFactory()
    put(client, admin_headers, other.id, BANK)
    headers = bearer(partner_key(partner))
    theirs = client.get(url(other.id), headers=headers).json
    unknown = client.get(url(2_000_000), headers=headers).json
    assert theirs["title"] == unknown["title"] and "other" not in theirs["detail"]


def test_a_conversions_key_may_not_touch_payout_details(client, conversions_headers):
    partner = PartnerFactory()
    assert client.get(url(partner.id), headers=conversions_headers).status_code == 403
    assert put(client, conversions_headers, partner.id, CARD).status_code == 403
    assert stored(partner.id) is None


def test_payout_details_need_a_key(client):
    partner = PartnerFactory()
    assert client.get(url(partner.id)).status_code == 401
    assert client.put(url(partner.id), json=CARD).status_code == 401


def test_a_partner_without_payout_details_answers_404_saying_so(client, admin_headers):
    partner = PartnerFactory()
    response = client.get(url(partner.id), headers=admin_headers)
    assert response.status_code == 404
    assert "no payout details" in response.json["detail"]


def test_payout_details_of_an_unknown_partner_are_404(client, admin_headers):
    assert client.get(url(999_999), headers=admin_headers).status_code == 404
    assert put(client, admin_headers, 999_999, CARD).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


# The audit trail ---------------------------------------------------------------------------


def test_setting_payout_details_is_audited_with_numbers_masked(client, admin_headers):
    partner = PartnerFactory()
    put(client, admin_headers, partner.id, BANK)
    (entry,) = audits(partner.id)
    assert (entry.action, entry.before, entry.at) == ("created", None, T0)
    assert entry.actor.startswith("api-key:") and entry.actor.endswith(":admin")
    assert entry.after["account_number_masked"] == "**** 2345"
    assert entry.after["bic"] == "044525225"
    assert entry.reason == "payout details set: bank_transfer"
    assert not any(n in json.dumps(entry.after, ensure_ascii=False) for n in FULL_NUMBERS)


def test_a_changed_account_is_audited_before_and_after_without_full_numbers(client, admin_headers):
    partner = PartnerFactory()
    put(client, admin_headers, partner.id, BANK)
    # a new account at the same bank whose last four digits are the same: the audit still says
    new_account = "40702810000000092345"
    assert put(client, admin_headers, partner.id,
               {**BANK, "account_number": new_account}).status_code == 200  # fmt: skip
    created, changed = audits(partner.id)
    assert changed.action == "changed"
    assert changed.before == created.after
    assert changed.before["account_number_masked"] == changed.after["account_number_masked"]
    assert changed.reason == "changed: account_number"
    text = json.dumps([changed.before, changed.after, changed.reason], ensure_ascii=False)
    assert new_account not in text and BANK["account_number"] not in text


def test_a_changed_method_is_audited_and_clears_the_old_fields(client, admin_headers):
    partner = PartnerFactory()
    put(client, admin_headers, partner.id, CARD)
    response = put(client, admin_headers, partner.id, SBP)
    assert response.json["method"] == "sbp" and "card_number_masked" not in response.json
    row = stored(partner.id)
    assert (row.method, row.card_number, row.phone) == ("sbp", None, "+79123456789")
    _, changed = audits(partner.id)
    assert changed.reason == "method changed: card -> sbp"
    assert changed.before["card_number_masked"] == "**** 1111"
    assert changed.after["phone_masked"] == "+7 *** ***-67-89"


def test_saving_the_same_details_again_changes_nothing_and_audits_nothing(client, admin_headers):
    partner = PartnerFactory()
    first = put(client, admin_headers, partner.id, SBP).json
    # the same phone written another way is the same details
    again = put(client, admin_headers, partner.id, {**SBP, "phone": "+7 912 345 67 89"})
    assert again.status_code == 200 and again.json == first
    assert len(audits(partner.id)) == 1


def test_racing_first_saves_leave_one_row_and_an_audit_entry_each(app, admin_headers):
    partner = PartnerFactory()
    cards = ["4111111111111111", "5555555555554444", "2200700000000009", "4000000000000002"]
    barrier = threading.Barrier(len(cards))
    results: list[Any] = [None] * len(cards)

    def worker(index: int) -> None:
        own = app.test_client()
        try:
            barrier.wait(timeout=30)
            body = {**CARD, "card_number": cards[index]}
            results[index] = own.put(url(partner.id), json=body, headers=admin_headers).status_code
        except Exception as exc:  # reported by the assertion below
            results[index] = exc
        finally:
            db.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(cards))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [200] * len(cards)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(PayoutDetails)) == 1
    entries = audits(partner.id)
    assert [e.action for e in entries] == ["created"] + ["changed"] * (len(cards) - 1)
    # each entry's "before" is the "after" of the one it replaced
    for earlier, later in zip(entries, entries[1:], strict=False):
        assert later.before == earlier.after
    assert entries[-1].after["card_number_masked"][-4:] == stored(partner.id).card_number[-4:]


# Integrity in the database -----------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"method": "card", "holder_name": "A"},  # no card number
        {"method": "card", "holder_name": "A", "card_number": "4111111111111111",
         "account_number": "40702810200000012345"},  # another method's field
        {"method": "bank_transfer", "holder_name": "A", "bank_name": "B", "bic": "044525225"},
        {"method": "sbp", "holder_name": "A", "phone": "+79123456789"},  # no bank
        {"method": "cash", "holder_name": "A"},
    ],
)  # fmt: skip
def test_the_database_refuses_details_that_do_not_fit_their_method(session, values):
    partner = PartnerFactory()
    session.add(PayoutDetails(partner_id=partner.id, **values))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_the_database_keeps_one_set_of_payout_details_per_partner(session):
    partner = PartnerFactory()
    for number in ("4111111111111111", "5555555555554444"):
        session.add(PayoutDetails(partner_id=partner.id, method="card", holder_name="A",
                                  card_number=number))  # fmt: skip
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_the_openapi_document_describes_each_method(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/partners/{partner_id}/payout-details"]["put"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["discriminator"]["propertyName"] == "method"
    assert set(body["discriminator"]["mapping"]) == {"bank_transfer", "card", "sbp"}
    assert "get" in document["paths"]["/api/v1/partners/{partner_id}/payout-details"]
