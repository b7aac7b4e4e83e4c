"""Request bodies: read in one place, never past `MAX_CONTENT_LENGTH`, never cut silently.

A body with a Content-Length over the limit is 413 before anything reads it. A body without
one (`Transfer-Encoding: chunked`, which the WSGI server dechunks and marks with
`wsgi.input_terminated`) is read here, at most limit + 1 bytes of it, before the
application sees the request; it then carries the Content-Length of what was read, so a
body over the limit is 413 too, where Werkzeug alone would hand the application its first
`limit` bytes as if they were all of it. A malformed chunked body is 400.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

CHUNK = 64 * 1024
MALFORMED = "affiliates.body_malformed"
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BoundedBodies:
    """WSGI middleware reading a body without Content-Length into memory, up to a limit."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        # gunicorn marks every request `wsgi.input_terminated`: a GET or HEAD that is not
        # chunked has no body, and the redirect (a GET) must not pay for reading one.
        # A dechunked body's Content-Length, if any came, is not its length (and Werkzeug
        # ignores it).
        if chunked or (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and environ.get("REQUEST_METHOD") not in BODILESS
        ):
            body, malformed = read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            # the body is now bytes of a known length, no longer chunked: with the header
            # left, Werkzeug would ignore the length (and cut the body at the limit again)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
            if malformed:
                environ[MALFORMED] = True
        return self.app(environ, start_response)


def read_at_most(stream: Any, size: int) -> tuple[bytes, bool]:
    """Up to `size` bytes of `stream`, and whether reading it failed (a broken chunk, a
    client gone)."""
    parts: list[bytes] = []
    left = size
    try:
        while left > 0:
            part = stream.read(min(CHUNK, left))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    except (OSError, ValueError):  # gunicorn's chunk errors are IOErrors
        return b"".join(parts), True
    return b"".join(parts), False


def check_length() -> None:
    """413 for a body over the limit, however it was framed; 400 for a broken one."""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"The request body may be at most {limit} bytes.")
    if request.environ.get(MALFORMED):
        raise BadRequest("The request body could not be read (a malformed chunk).")


def init_app(app: Flask) -> None:
    """Wrap the WSGI app and check every request's length; called before any other hook is
    registered, so the check runs first (before a form, a CSRF token or a key is read)."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return
    app.wsgi_app = BoundedBodies(app.wsgi_app, limit)  # type: ignore[method-assign]
    app.before_request(check_length)
