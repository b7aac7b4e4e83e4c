"""Request size: over the limit is 413 problem+json however the body is framed
(Content-Length, or chunked with none), never a body cut to the limit and accepted."""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest
from sqlalchemy import func, select

from affiliates.bodies import BoundedBodies, read_at_most
from affiliates.models import AuditEntry, Conversion, Offer
from affiliates.services import api_keys
from tests.factories import OfferFactory
from tests.tracking.test_guarantees import server

LIMIT = 1024 * 1024  # the default MAX_CONTENT_LENGTH
# gunicorn and Werkzeug's server dechunk a chunked body and say so with this key; the test
# client would count the stream's length, so it is taken away again
CHUNKED = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}


def sale(offer, padding: int = 0) -> bytes:
    """A valid sale, followed by `padding` bytes of whitespace (still valid JSON)."""
    body = json.dumps({"offer_id": offer.id, "order_id": "A-1", "amount": "10.00"}).encode()
    return body + b" " * padding


def post_chunked(client, headers, path: str, body: bytes):
    """A body with no Content-Length, as a server hands on a chunked one."""
    return client.post(path, input_stream=io.BytesIO(body), environ_overrides=CHUNKED,
                       headers={**headers, "Content-Type": "application/json",
                                "Transfer-Encoding": "chunked"})  # fmt: skip


def nothing_written(session) -> bool:
    session.expire_all()
    return all(session.scalar(select(func.count()).select_from(m)) == 0
               for m in (Conversion, AuditEntry))  # fmt: skip


def test_a_chunked_body_over_the_size_limit_is_413_problem_not_cut_and_accepted(
    client, session, conversions_headers
):
    offer = OfferFactory()
    response = post_chunked(client, conversions_headers, "/api/v1/conversions",
                            sale(offer, 10 * LIMIT))  # fmt: skip
    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 413
    assert nothing_written(session)


def test_a_chunked_body_one_byte_over_the_limit_is_413_and_one_at_the_limit_is_read_whole(
    client, session, conversions_headers
):
    offer = OfferFactory()
    at_limit = sale(offer)
    at_limit += b" " * (LIMIT - len(at_limit))
    over = post_chunked(client, conversions_headers, "/api/v1/conversions", at_limit + b" ")
    assert over.status_code == 413 and nothing_written(session)
    whole = post_chunked(client, conversions_headers, "/api/v1/conversions", at_limit)
    assert whole.status_code == 201, whole.get_data(as_text=True)


def test_a_chunked_body_under_the_limit_is_read_whole(client, conversions_headers):
    offer = OfferFactory()
    response = post_chunked(client, conversions_headers, "/api/v1/conversions", sale(offer))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["amount"] == "10.00"


def test_a_content_length_over_the_limit_is_413_on_every_route(client, admin_headers, session):
    big = b"x" * (LIMIT + 1)
    for method, path in (("POST", "/api/v1/offers"), ("GET", "/api/v1/offers"),
                         ("POST", "/api/v1/payouts/run")):  # fmt: skip
        response = client.open(path, method=method, data=big, headers=admin_headers)
        assert response.status_code == 413, (method, path)
        assert response.mimetype == "application/problem+json"
    assert session.scalar(select(func.count()).select_from(Offer)) == 0


def test_a_page_answers_a_body_over_the_limit_with_the_413_page(client):
    response = client.post("/login", input_stream=io.BytesIO(b"a" * (2 * LIMIT)),
                           environ_overrides=CHUNKED,
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 413 and response.mimetype == "text/html"


class _Broken(io.BytesIO):
    """A chunked body whose framing breaks: gunicorn raises an IOError of its own."""

    def read(self, size: int | None = -1) -> bytes:
        raise OSError("Invalid chunk size")


def test_a_malformed_chunked_body_is_400(client, conversions_headers):
    response = client.post("/api/v1/conversions", input_stream=_Broken(),
                           environ_overrides=CHUNKED, headers=conversions_headers)  # fmt: skip
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_read_at_most_stops_one_past_the_limit():
    assert read_at_most(io.BytesIO(b"abcdef"), 4) == (b"abcd", False)
    assert read_at_most(io.BytesIO(b"ab"), 4) == (b"ab", False)


# Against the real server: gunicorn dechunks, the app counts ------------------------------------


def _raw_chunked(base: str, path: str, key: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST `chunks` with Transfer-Encoding: chunked over a raw socket; the answer's status
    and body. The sender is a thread of its own: the server may answer (and close) before
    it has sent everything."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()  # fmt: skip

    def sender() -> None:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the end: what the test expects

    thread = threading.Thread(target=sender)
    thread.start()
    answer = b""
    try:
        while part := sock.recv(65536):
            answer += part
    except ConnectionResetError:
        pass
    finally:
        thread.join(timeout=10)
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line, "no answer"
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.usefixtures("app")
def test_a_chunked_body_over_the_limit_is_413_from_the_real_server(database_url, tmp_path, session):
    offer = OfferFactory()
    session.commit()
    key = api_keys.issue(session, "conversions", name="raw")
    with server(database_url, tmp_path) as (base, _process):
        padding = [b" " * 65536] * (LIMIT // 65536 + 2)  # 128 KiB over the limit
        status, body = _raw_chunked(base, "/api/v1/conversions", key, [sale(offer), *padding])
        assert status == 413, body
        assert json.loads(body)["status"] == 413
        assert nothing_written(session)
        status, body = _raw_chunked(base, "/api/v1/conversions", key,
                                    [sale(offer)[:10], sale(offer)[10:]])  # fmt: skip
        assert status == 201, body


def test_the_size_limit_may_be_set_from_the_environment(monkeypatch):
    from affiliates import config

    monkeypatch.setenv("AFFILIATES_MAX_CONTENT_LENGTH", "2048")
    assert config.load({"ENV": "testing"})["MAX_CONTENT_LENGTH"] == 2048


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("a bodiless request's input was read")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_a_request_without_a_body_is_passed_on_unread_as_gunicorn_marks_it(method):
    # gunicorn sets wsgi.input_terminated on every request: a redirect must not pay a read
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return [b""]

    environ = {"REQUEST_METHOD": method, "wsgi.input_terminated": True,
               "wsgi.input": _Unreadable()}  # fmt: skip
    BoundedBodies(app, limit=10)(environ, lambda *a: None)
    assert "CONTENT_LENGTH" not in seen
    chunked = {**environ, "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"x" * 5)}
    BoundedBodies(app, limit=10)(chunked, lambda *a: None)
    assert seen["CONTENT_LENGTH"] == "5"  # a chunked GET is still read, and bounded
