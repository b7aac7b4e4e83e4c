"""Signed requests: `X-Affiliates-Signature: t=<unix time>,v2=<hex HMAC-SHA256 of
"t.METHOD.path.body">`, the path without its query string, as the request line has it.

Pure functions: the caller gives the request's method, path, body and the time, and
remembers each accepted signature for its window (affiliates.services.used_signatures), so
that each is accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

TOLERANCE_SECONDS = 300
HEADER = "X-Affiliates-Signature"
VERSION = "v2"


class SignatureError(ValueError):
    """The request's signature is missing, malformed, wrong or too old."""


@dataclass(frozen=True)
class Verified:
    """An accepted signature: its timestamp and its digest (lower-case hex), by which it is
    remembered until `expires_at`."""

    timestamp: int
    digest: str

    @property
    def expires_at(self) -> int:
        """The last unix time at which this signature's timestamp is still accepted."""
        return self.timestamp + TOLERANCE_SECONDS


def message(timestamp: int, method: str, path: str, body: bytes) -> bytes:
    """What is signed: "t.METHOD.path." then the body's bytes as sent."""
    return f"{timestamp}.{method.upper()}.{path}.".encode() + body


def digest(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    """The lower-case hex HMAC-SHA256 of the request's message."""
    signed = message(timestamp, method, path, body)
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on a request at `timestamp`."""
    return f"t={timestamp},{VERSION}={digest(secret, timestamp, method, path, body)}"


def verify(
    secret: str, header: str | None, method: str, path: str, body: bytes, now: float
) -> Verified:
    """The signature `header` gives this request, or SignatureError: it must sign the
    method, path and body with `secret`, at a time within 300 s of `now`."""
    if not header:
        raise SignatureError(f"This key requires signed requests: send {HEADER}.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        raise SignatureError("The signature has no valid timestamp (t=<unix time>).")
    if len(stamps[0]) > 12:
        raise SignatureError("The signature's timestamp is more than 300 s off.")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("The signature's timestamp is more than 300 s off.")
    given = parts.get(VERSION, [])
    if not given:
        raise SignatureError(f"The signature has no {VERSION}=<hex digest> (v1 is not accepted).")
    expected = digest(secret, timestamp, method, path, body).encode()
    # every v2 given is compared (a sender rotating its secret sends two), each in constant
    # time and in either case; compare_digest refuses non-ASCII text, which a header may carry
    candidates = [value.lower().encode("utf-8", "replace") for value in given]
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("The signature does not match this request (method, path, body).")
    return Verified(timestamp, expected.decode())
