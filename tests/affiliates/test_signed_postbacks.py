"""Signed postbacks: a key with a signing secret accepts only fresh, correctly signed bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion
from affiliates.services import api_keys
from affiliates.signatures import HEADER, SignatureError, sign, verify
from tests.conftest import bearer
from tests.factories import OfferFactory

SECRET = "s3cret"


@pytest.fixture
def signed_key() -> str:
    return api_keys.issue(db.session, "conversions", name="shop", signing_secret=SECRET)


def body_of(offer, order_id: str = "A-1", amount: str = "1499.00") -> bytes:
    return json.dumps({"offer_id": offer.id, "order_id": order_id, "amount": amount}).encode()


def signature(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    """Computed here from the published recipe, not with the server's own helper."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def send(client, key, body: bytes, header: str | None, path: str = "/api/v1/conversions"):
    headers = {**bearer(key), "Content-Type": "application/json"}
    if header is not None:
        headers[HEADER] = header
    return client.post(path, data=body, headers=headers)


def nothing_written(session) -> bool:
    session.expire_all()
    return all(
        session.scalar(select(func.count()).select_from(model)) == 0
        for model in (Conversion, AuditEntry)
    )


def test_a_correctly_signed_postback_is_recorded(client, session, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, signature(body, int(time.time())))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["amount"] == "1499.00"
    again = send(client, signed_key, body, signature(body, int(time.time())))
    assert again.status_code == 200


def test_the_server_helper_signs_as_the_recipe_says():
    assert sign(SECRET, b"{}", 1700000000) == signature(b"{}", 1700000000)


def missing(body, now):
    return None


def empty(body, now):
    return ""


def wrong_secret(body, now):
    return signature(body, now, "not-the-secret")


def other_body(body, now):
    return signature(body.replace(b"1499.00", b"1.00"), now)


def stale(body, now):
    return signature(body, now - 301)


def future(body, now):
    return signature(body, now + 301)


def malformed_garbage(body, now):
    return "garbage"


def malformed_no_timestamp(body, now):
    return "v1=" + signature(body, now).split("v1=")[1]


def malformed_text_timestamp(body, now):
    return signature(body, now).replace(f"t={now}", "t=soon")


def malformed_two_timestamps(body, now):
    return f"t={now}," + signature(body, now)


def malformed_no_digest(body, now):
    return f"t={now}"


def malformed_huge_timestamp(body, now):
    return signature(body, 10**40)


def malformed_non_ascii(body, now):
    return signature(body, now).replace("v1=", "v1=ü")


@pytest.mark.parametrize(
    "make_header",
    [missing, empty, wrong_secret, other_body, stale, future, malformed_garbage,
     malformed_no_timestamp, malformed_text_timestamp, malformed_two_timestamps,
     malformed_no_digest, malformed_huge_timestamp, malformed_non_ascii],
)  # fmt: skip
def test_a_missing_wrong_malformed_or_stale_signature_is_401_and_writes_nothing(
    client, session, signed_key, make_header
):
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, make_header(body, int(time.time())))
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert nothing_written(session)


def test_a_timestamp_inside_the_tolerance_is_accepted_either_way(client, signed_key):
    offer = OfferFactory()
    now = int(time.time())
    for n, skew in enumerate((-290, 290)):
        body = body_of(offer, order_id=f"A-{n}")
        assert send(client, signed_key, body, signature(body, now + skew)).status_code == 201


def test_a_rotated_secret_may_send_several_v1_digests(client, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    now = int(time.time())
    old = signature(body, now, "old-secret").split(",")[1]
    header = f"t={now},{old},{signature(body, now).split(',')[1]}"
    assert send(client, signed_key, body, header).status_code == 201


def test_refunds_through_a_signed_key_must_be_signed_too(client, session, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    created = send(client, signed_key, body, signature(body, int(time.time()))).get_json()
    path = f"/api/v1/conversions/{created['id']}/refund"
    refund = json.dumps({"amount": "100.00"}).encode()
    assert send(client, signed_key, refund, None, path).status_code == 401
    assert send(client, signed_key, refund, signature(refund, int(time.time()) - 400),
                path).status_code == 401  # fmt: skip
    session.expire_all()
    assert session.get_one(Conversion, created["id"]).refunded_amount == 0
    ok = send(client, signed_key, refund, signature(refund, int(time.time())), path)
    assert ok.status_code == 200 and ok.get_json()["refunded_amount"] == "100.00"


def test_a_key_without_a_signing_secret_needs_no_signature(client, conversions_headers):
    offer = OfferFactory()
    headers = {**conversions_headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/conversions", data=body_of(offer), headers=headers)
    assert response.status_code == 201


def test_the_signature_is_checked_before_the_body_is_validated(client, session, signed_key):
    response = send(client, signed_key, b'{"offer_id": "nonsense"}', None)
    assert response.status_code in (401, 422)
    assert nothing_written(session)


def test_create_api_key_signed_prints_a_secret_that_signs_postbacks(client, runner, session):
    result = runner.invoke(args=["create-api-key", "--scope", "conversions", "--signed"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key = lines[-1]
    secret = next(line for line in lines if line.startswith("Signing secret")).split(": ")[1]
    offer = OfferFactory()
    body = body_of(offer)
    assert send(client, key, body, None).status_code == 401
    assert send(client, key, body, signature(body, int(time.time()), secret)).status_code == 201


@pytest.mark.parametrize(
    ("header", "skew"),
    [(None, 0), ("t=1,v1=00", 0), ("t=,v1=", 0)],
)
def test_verify_raises_signature_error_for_bad_headers(header, skew):
    with pytest.raises(SignatureError):
        verify(SECRET, header, b"{}", time.time() + skew)


def test_verify_allows_exactly_three_hundred_seconds_and_refuses_one_more():
    body = b'{"a": 1}'
    verify(SECRET, signature(body, 1_000_000), body, 1_000_300)
    with pytest.raises(SignatureError):
        verify(SECRET, signature(body, 1_000_000), body, 1_000_301)
    with pytest.raises(SignatureError):
        verify(SECRET, signature(body, 1_000_000), body, 999_699)
