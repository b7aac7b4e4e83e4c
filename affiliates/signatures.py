"""Signed postbacks: `X-Affiliates-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_SECONDS = 300
HEADER = "X-Affiliates-Signature"


class SignatureError(ValueError):
    """The request's signature is missing, malformed, wrong or too old."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on `body` at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, now: float) -> None:
    """Raise SignatureError unless `header` signs `body` within 300 s of `now`."""
    if not header:
        raise SignatureError(f"This key requires signed requests: send {HEADER}.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or len(stamps[0]) > 12:
        raise SignatureError("The signature has no valid timestamp (t=<unix time>).")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("The signature's timestamp is more than 300 s off.")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    # compare against every v1 given (rotation), each in constant time; compare_digest
    # refuses non-ASCII text, which a header may carry
    given_digests = [given.encode("utf-8", "replace") for given in parts.get("v1", [])]
    if not any(hmac.compare_digest(expected.encode(), given) for given in given_digests):
        raise SignatureError("The signature does not match the body.")
