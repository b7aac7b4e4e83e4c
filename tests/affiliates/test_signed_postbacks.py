"""Signed postbacks: a key made `--signed` accepts only requests signed for their method, path
and body, fresh, and each signature once (in the database, or in Redis with REDIS_URL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import AuditEntry, Conversion, UsedSignature
from affiliates.services import api_keys, used_signatures
from affiliates.signatures import HEADER, SignatureError, sign, verify
from tests.conftest import bearer
from tests.factories import OfferFactory

SECRET = "s3cret"
CONVERSIONS = "/api/v1/conversions"


@pytest.fixture
def signed_key() -> str:
    return api_keys.issue(db.session, "conversions", name="shop", signing_secret=SECRET)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """TEST_REDIS_URL, else a redis-server of the test's own on a free port (skipped when
    there is neither): never a Redis someone else uses."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH and no TEST_REDIS_URL")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "no redis"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_store(redis_url) -> used_signatures.RedisUsedSignatures:
    import redis

    prefix = f"test:{time.time_ns()}:"  # nothing a test left behind is seen by the next
    return used_signatures.RedisUsedSignatures(redis.Redis.from_url(redis_url), prefix)


@pytest.fixture(params=["database", "redis"])
def store(request, app, monkeypatch):
    """Each test that takes it runs once on each store of used signatures."""
    if request.param == "database":
        chosen = used_signatures.DatabaseUsedSignatures(db.engine)
    else:
        chosen = request.getfixturevalue("redis_store")
    monkeypatch.setitem(app.extensions, "used_signatures", chosen)
    return chosen


def body_of(offer, order_id: str = "A-1", amount: str = "1499.00") -> bytes:
    return json.dumps({"offer_id": offer.id, "order_id": order_id, "amount": amount}).encode()


def signature(
    body: bytes, timestamp: int, secret: str = SECRET, method: str = "POST", path: str = CONVERSIONS
) -> str:
    """Computed here from the published recipe, not with the server's own helper."""
    message = f"{timestamp}.{method}.{path}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256)
    return f"t={timestamp},v2={digest.hexdigest()}"


def send(client, key, body: bytes, header: str | None, path: str = CONVERSIONS, method="POST"):
    headers = {**bearer(key), "Content-Type": "application/json"}
    if header is not None:
        headers[HEADER] = header
    return client.open(path, method=method, data=body, headers=headers)


def counts(session) -> tuple[int, int]:
    """How many conversions and audit entries there are."""
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model))
        for model in (Conversion, AuditEntry)
    )


def refused(response) -> bool:
    return response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_correctly_signed_postback_is_recorded(client, session, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, signature(body, int(time.time())))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["amount"] == "1499.00"


def test_the_server_helper_signs_as_the_recipe_says():
    assert sign(SECRET, "POST", CONVERSIONS, b"{}", 1700000000) == signature(b"{}", 1700000000)
    assert sign(SECRET, "get", "/x", b"", 1) == signature(b"", 1, method="GET", path="/x")


# A missing or wrong signature ----------------------------------------------------------------


def missing(body, now):
    return None


def empty(body, now):
    return ""


def wrong_secret(body, now):
    return signature(body, now, "not-the-secret")


def other_body(body, now):
    return signature(body.replace(b"1499.00", b"1.00"), now)


def v1_of_the_old_scheme(body, now):
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={now},v1={digest}"


def v2_renamed_v1(body, now):
    return signature(body, now).replace("v2=", "v1=")


def malformed_garbage(body, now):
    return "garbage"


def malformed_no_timestamp(body, now):
    return "v2=" + signature(body, now).split("v2=")[1]


def malformed_text_timestamp(body, now):
    return signature(body, now).replace(f"t={now}", "t=soon")


def malformed_non_ascii_timestamp(body, now):
    return signature(body, now).replace(f"t={now}", "t=١٧٠٠٠٠٠٠٠٠")


def malformed_two_timestamps(body, now):
    return f"t={now}," + signature(body, now)


def malformed_no_digest(body, now):
    return f"t={now}"


def malformed_huge_timestamp(body, now):
    return signature(body, 10**40)


def malformed_non_ascii(body, now):
    return signature(body, now).replace("v2=", "v2=ü")


@pytest.mark.parametrize(
    "make_header",
    [missing, empty, wrong_secret, other_body, v1_of_the_old_scheme, v2_renamed_v1,
     malformed_garbage, malformed_no_timestamp, malformed_text_timestamp,
     malformed_non_ascii_timestamp, malformed_two_timestamps, malformed_no_digest,
     malformed_huge_timestamp, malformed_non_ascii],
)  # fmt: skip
def test_signed_postbacks_a_missing_or_wrong_signature_is_refused_with_a_4xx_and_changes_nothing(
    client, session, signed_key, make_header
):
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, make_header(body, int(time.time())))
    assert refused(response), response.get_data(as_text=True)
    assert counts(session) == (0, 0)


def test_the_hex_digest_is_accepted_in_upper_or_lower_case(client, session, signed_key):
    offer = OfferFactory()
    now = int(time.time())
    for n, case in enumerate((str.upper, str.lower)):
        body = body_of(offer, order_id=f"A-{n}")
        header = signature(body, now)
        header = header.replace(header.split("v2=")[1], case(header.split("v2=")[1]))
        assert send(client, signed_key, body, header).status_code == 201
    assert counts(session)[0] == 2


# A timestamp more than 300 s off ------------------------------------------------------------


# A future skew sits a little beyond the edge: the server reads its clock after the test, so on
# a loaded machine 301 s could arrive as 300 s. The exact edge is held by the pure test below.
@pytest.mark.parametrize("skew", [-301, 320, -3600, 86400])
def test_signed_postbacks_a_timestamp_more_than_300_s_off_is_refused_with_a_4xx_and_changes_nothing(
    client, session, signed_key, skew
):
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, signature(body, int(time.time()) + skew))
    assert refused(response)
    assert "300 s" in response.get_json()["detail"]
    assert counts(session) == (0, 0)
    assert session.scalar(select(func.count()).select_from(UsedSignature)) == 0


def test_a_timestamp_inside_the_tolerance_is_accepted_either_way(client, signed_key):
    offer = OfferFactory()
    now = int(time.time())
    for n, skew in enumerate((-290, 290)):
        body = body_of(offer, order_id=f"A-{n}")
        assert send(client, signed_key, body, signature(body, now + skew)).status_code == 201


def test_verify_allows_exactly_three_hundred_seconds_and_refuses_one_more():
    body = b'{"a": 1}'
    header = signature(body, 1_000_000)
    verify(SECRET, header, "POST", CONVERSIONS, body, 1_000_300)
    verify(SECRET, header, "POST", CONVERSIONS, body, 999_700)
    for now in (1_000_301, 999_699):
        with pytest.raises(SignatureError):
            verify(SECRET, header, "POST", CONVERSIONS, body, now)


def test_a_rotated_secret_may_send_several_v2_digests(client, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    now = int(time.time())
    old = signature(body, now, "old-secret").split(",")[1]
    header = f"t={now},{old},{signature(body, now).split(',')[1]}"
    assert send(client, signed_key, body, header).status_code == 201


# A signature already used -------------------------------------------------------------------


def test_signed_postbacks_a_signature_already_used_is_refused_with_a_4xx_and_changes_nothing(
    client, session, signed_key, store
):
    offer = OfferFactory()
    body = body_of(offer)
    header = signature(body, int(time.time()))
    assert send(client, signed_key, body, header).status_code == 201
    before = counts(session)
    replay = send(client, signed_key, body, header)
    assert refused(replay)
    assert "used already" in replay.get_json()["detail"]
    assert counts(session) == before
    # the same request signed anew is the idempotent repeat: the original answer
    resigned = send(client, signed_key, body, signature(body, int(time.time()) + 1))
    assert resigned.status_code == 200


def test_a_replayed_refund_refunds_nothing(client, session, signed_key, store):
    offer = OfferFactory()
    body = body_of(offer)
    created = send(client, signed_key, body, signature(body, int(time.time()))).get_json()
    path = f"{CONVERSIONS}/{created['id']}/refund"
    refund = json.dumps({"amount": "100.00"}).encode()
    header = signature(refund, int(time.time()), path=path)
    assert send(client, signed_key, refund, header, path).status_code == 200
    assert refused(send(client, signed_key, refund, header, path))
    session.expire_all()
    assert str(session.get_one(Conversion, created["id"]).refunded_amount) == "100.00"


def test_of_twelve_copies_of_one_signature_at_once_exactly_one_is_accepted(store):
    barrier = threading.Barrier(12)
    results: list[bool] = []
    lock = threading.Lock()
    expires = int(time.time()) + 300
    digest = hashlib.sha256(f"race-{time.time()}".encode()).hexdigest()

    def worker() -> None:
        barrier.wait()
        accepted = store.claim(digest, expires, time.time())
        with lock:
            results.append(accepted)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(results) == [False] * 11 + [True]


def test_expired_signatures_are_pruned_by_a_later_claim(session):
    store = used_signatures.DatabaseUsedSignatures(db.engine, prune_every=60)
    now = time.time()
    old = int(now) - 300 - used_signatures.MARGIN_SECONDS - 10
    assert store.claim("a" * 64, old, now - 1000)  # the first claim prunes (nothing yet)
    assert store.claim("b" * 64, int(now) + 300, now - 999)  # not due: nothing pruned
    assert session.scalar(select(func.count()).select_from(UsedSignature)) == 2
    assert store.claim("c" * 64, int(now) + 300, now)  # due again: the expired row goes
    session.expire_all()
    assert set(session.scalars(select(UsedSignature.digest))) == {"b" * 64, "c" * 64}


def test_with_redis_url_signatures_are_kept_in_redis(redis_url, database_url):
    from tests.apps import another_app

    with another_app(database_url, REDIS_URL=redis_url) as application:
        store = application.extensions["used_signatures"]
        assert isinstance(store, used_signatures.RedisUsedSignatures)
        digest = hashlib.sha256(f"redis-{time.time()}".encode()).hexdigest()
        assert store.claim(digest, int(time.time()) + 300, time.time())
        assert not store.claim(digest, int(time.time()) + 300, time.time())
        ttl = store.client.ttl(store.prefix + digest)
        assert 300 < ttl <= 300 + used_signatures.MARGIN_SECONDS + 1


def test_an_unreachable_redis_is_503_and_changes_nothing(
    client, session, signed_key, app, monkeypatch
):
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setitem(
        app.extensions, "used_signatures", used_signatures.RedisUsedSignatures(dead)
    )
    offer = OfferFactory()
    body = body_of(offer)
    response = send(client, signed_key, body, signature(body, int(time.time())))
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert counts(session) == (0, 0)


# A signature made for one route -------------------------------------------------------------


def test_signed_postbacks_a_signature_made_for_one_route_is_refused_on_another(
    client, session, signed_key
):
    offer = OfferFactory()
    created = []
    for n in range(2):
        body = body_of(offer, order_id=f"A-{n}")
        created.append(send(client, signed_key, body, signature(body, int(time.time()))).get_json())
    now = int(time.time())
    # a signed empty refund of the first conversion, sent to refund the second
    first, second = (f"{CONVERSIONS}/{c['id']}/refund" for c in created)
    assert refused(send(client, signed_key, b"", signature(b"", now, path=first), second))
    # a signed read sent as a write, and a write's signature on a read
    assert refused(send(client, signed_key, b"", signature(b"", now, method="GET"), first))
    assert refused(send(client, signed_key, b"", signature(b"", now), CONVERSIONS, "GET"))
    session.expire_all()
    assert all(session.get_one(Conversion, c["id"]).refunded_amount == 0 for c in created)
    # the same empty refund signed for its own route is accepted
    assert (
        send(client, signed_key, b"", signature(b"", now, path=second), second).status_code == 200
    )


def test_the_query_string_is_not_signed_but_the_path_is(client, signed_key):
    now = int(time.time())
    header = signature(b"", now, method="GET", path=CONVERSIONS)
    response = send(client, signed_key, b"", header, f"{CONVERSIONS}?limit=5", "GET")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_key_made_signed_needs_the_signature_on_every_request_gets_too(client, signed_key):
    offer = OfferFactory()
    body = body_of(offer)
    created = send(client, signed_key, body, signature(body, int(time.time()))).get_json()
    one = f"{CONVERSIONS}/{created['id']}"
    for path in (CONVERSIONS, one, "/api/v1/promo-codes/NONE?offer_id=1&amount=10.00"):
        assert refused(send(client, signed_key, b"", None, path, "GET")), path
        signed = signature(b"", int(time.time()), method="GET", path=path.split("?")[0])
        assert send(client, signed_key, b"", signed, path, "GET").status_code in (200, 404), path
    refund = f"{one}/refund"
    assert refused(send(client, signed_key, b"{}", None, refund))


def test_a_key_without_a_signing_secret_needs_no_signature(client, conversions_headers):
    offer = OfferFactory()
    headers = {**conversions_headers, "Content-Type": "application/json"}
    assert client.post(CONVERSIONS, data=body_of(offer), headers=headers).status_code == 201
    assert client.get(CONVERSIONS, headers=conversions_headers).status_code == 200


def test_the_signature_is_checked_before_the_body_is_validated(client, session, signed_key):
    response = send(client, signed_key, b'{"offer_id": "nonsense"}', None)
    assert refused(response)
    assert counts(session) == (0, 0)


def test_create_api_key_signed_prints_a_secret_that_signs_postbacks(client, runner, session):
    result = runner.invoke(args=["create-api-key", "--scope", "conversions", "--signed"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key = lines[-1]
    secret = next(line for line in lines if line.startswith("Signing secret")).split(": ")[1]
    assert "t.METHOD.path.body" in result.output
    offer = OfferFactory()
    body = body_of(offer)
    assert refused(send(client, key, body, None))
    assert send(client, key, body, signature(body, int(time.time()), secret)).status_code == 201


# The clients in docs/signing.md --------------------------------------------------------------

SIGNING_DOC = Path(__file__).resolve().parents[2] / "docs" / "signing.md"


def doc_block(language: str) -> str:
    """The documentation's code block in `language`."""
    match = re.search(rf"```{language}\n(.*?)```", SIGNING_DOC.read_text(), re.DOTALL)
    assert match, f"no {language} block in docs/signing.md"
    return match.group(1)


def python_client() -> dict:
    namespace: dict = {}
    exec(compile(doc_block("python"), str(SIGNING_DOC), "exec"), namespace)  # noqa: S102 - our doc
    return namespace


def test_the_documented_python_client_signs_as_the_server_checks():
    client = python_client()
    header = client["signature"](SECRET, "post", CONVERSIONS, b'{"a": 1}', 1_700_000_000)
    assert header == sign(SECRET, "POST", CONVERSIONS, b'{"a": 1}', 1_700_000_000)
    verify(SECRET, header, "POST", CONVERSIONS, b'{"a": 1}', 1_700_000_000)


@pytest.mark.usefixtures("app")
def test_the_documented_python_client_posts_and_reads_through_the_real_server(
    database_url, tmp_path, session
):
    from tests.tracking.test_guarantees import server

    offer = OfferFactory()
    session.commit()
    key = api_keys.issue(session, "conversions", name="doc", signing_secret=SECRET)
    send = python_client()["send"]
    with server(database_url, tmp_path) as (base, _process):
        order = {"offer_id": offer.id, "order_id": "DOC-1", "amount": "1499.00"}
        created = send(base, key, SECRET, "POST", CONVERSIONS, order)
        assert created["order_id"] == "DOC-1" and created["amount"] == "1499.00"
        listed = send(base, key, SECRET, "GET", f"{CONVERSIONS}?limit=5")
        assert [item["id"] for item in listed["items"]] == [created["id"]]
        one = send(base, key, SECRET, "GET", f"{CONVERSIONS}/{created['id']}")
        assert one["id"] == created["id"]


def test_the_documented_php_client_signs_the_same_message():
    php = doc_block("php")
    # the same message, byte for byte: t . METHOD . path . body, joined by dots, keyed by the
    # secret's text, lower-case hex (hash_hmac's default), in the same header
    assert ("hash_hmac('sha256', $t . '.' . strtoupper($method) . '.' . $path . '.' . $body, "
            "$secret)") in php  # fmt: skip
    assert '"t=$t,v2=" .' in php
    assert "strtok($path, '?')" in php  # the path without its query string
    assert "'X-Affiliates-Signature: '" in php
    if shutil.which("php") is None:
        return  # not installed here: the text above is what can be checked
    call = 'echo affiliates_signature("s3cret", "post", "/api/v1/conversions", "{}", 1700000000);'
    script = php.removeprefix("<?php\n") + "\n" + call
    out = subprocess.run(["php", "-r", script], capture_output=True, text=True,  # noqa: S603, S607
                         timeout=30, check=True).stdout  # fmt: skip
    assert out == sign(SECRET, "POST", CONVERSIONS, b"{}", 1_700_000_000)
