"""The API's plumbing: one decorator that authenticates, validates, serialises and
registers each route for the OpenAPI document; a key's principal and the viewer it reads as.
(Cursor paging is the read services' own: `affiliates.services.paging`.)"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError

from affiliates import signatures
from affiliates.api.schemas import MAX_ID
from affiliates.exceptions import (
    DomainError,
    Forbidden,
    NotFound,
    PartnerSuspended,
    Unauthorized,
)
from affiliates.models.statuses import PartnerStatus
from affiliates.services import api_keys
from affiliates.services.viewer import Viewer
from affiliates.validation import from_text, validation_errors

api = Blueprint("api", __name__)

# Python's own cap on the digits of an int read from text; a float literal may not exceed it
# either, or turning "1e999999999" into an int would hold a worker for minutes.
MAX_EXPONENT = 4300
# PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
NUL = "\x00"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's scope and, for partner keys, the partner."""

    key_id: int
    scope: str
    partner_id: int | None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"api-key:{self.key_id}:{self.scope}"

    @property
    def viewer(self) -> Viewer:
        """Who the key reads as; the one place a scope becomes a viewer. `admin` is staff
        with the admin role; `conversions` is staff too, as its routes read every partner's
        conversions, with the narrower analyst role (a viewer only reads; the route's scope
        decides what the key may change); `partner` is its partner."""
        if self.scope == "partner":
            if self.partner_id is None:  # issued keys always have one; a bad row reads nothing
                raise Forbidden("This partner key is bound to no partner.")
            return Viewer.partner(self.partner_id)
        return Viewer.staff("admin" if self.scope == "admin" else "analyst")


@dataclass
class Endpoint:
    """One documented route."""

    rule: str
    method: str
    summary: str
    scopes: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    responses: dict[int, str] = field(default_factory=dict)
    content_type: str = "application/json"
    body_optional: bool = False


ENDPOINTS: list[Endpoint] = []


class BadRequest(DomainError):
    status = 400
    title = "Malformed request"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if value.adjusted() > MAX_EXPONENT:
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def read_json() -> Any:
    """The body as JSON; decimals stay exact, NaN, Infinity and huge numbers are refused."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        return json.loads(raw, parse_float=_decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "The body is nested too deeply."
        raise BadRequest(f"The body is not valid JSON: {message[:200]}") from None


class Unprocessable(DomainError):
    status = 422
    title = "Validation failed"


def nul_errors(data: Any) -> list[dict[str, str]]:
    """An error for every string value in `data` holding a NUL character."""
    errors: list[dict[str, str]] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # a loop, not recursion: the body may be nested as deep as JSON allows
        path, value = stack.pop()
        if isinstance(value, str) and NUL in value:
            errors.append({"field": path or "body", "message": "Text may not contain NUL."})
        elif isinstance(value, dict):
            stack.extend((f"{path}.{key}".lstrip("."), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}".lstrip("."), item) for i, item in enumerate(value))
    return sorted(errors, key=lambda error: error["field"])


def parse_body(model: type[BaseModel], optional: bool = False) -> BaseModel:
    # an optional body may be left out, not sent as whitespace (that is a malformed body)
    if optional and not request.get_data(cache=True):
        return model.model_validate({})
    data = read_json()
    if not isinstance(data, dict):
        raise BadRequest(
            "The body must be a JSON object.", [{"field": "body", "message": "Expected an object."}]
        )
    # JSON text holds a NUL only as the escape \u0000 (or in UTF-16/32, whose bytes are
    # full of NULs): without either, no value needs walking
    raw = request.get_data(cache=True)
    nul = b"\\u0000" in raw or b"\x00" in raw
    if nul and not getattr(model, "checks_nul", False) and (errors := nul_errors(data)):
        raise Unprocessable("Some fields are invalid.", errors)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("Some fields are invalid.", validation_errors(exc)) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    names = {field.alias or name for name, field in model.model_fields.items()}
    text = {key: request.args.get(key, "") for key in request.args if key in names}
    if errors := nul_errors(text):
        raise Unprocessable("Some query parameters are invalid.", errors)
    data = from_text(model, text)
    paged = "limit" in model.model_fields
    if paged and "limit" not in data:
        data["limit"] = current_app.config["API_PAGE_LIMIT"]
    try:
        query = model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("Some query parameters are invalid.", validation_errors(exc)) from None
    # the configured ceiling, within the schema's own (500): a smaller one is the server's choice
    ceiling = current_app.config["API_MAX_PAGE_LIMIT"]
    if paged and query.limit > ceiling:  # type: ignore[attr-defined]
        raise Unprocessable("Some query parameters are invalid.",
                            [{"field": "limit", "message": f"At most {ceiling}."}])  # fmt: skip
    return query


def authenticate(allowed: tuple[str, ...]) -> Principal:
    """The caller's principal, or 401/403: the one place a key is checked, with its
    partner's status and, for a signed key, the request's signature."""
    from affiliates.extensions import db

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    # Read on a short connection of its own (and a key found in the cache on none), never in
    # the request's session: authenticating leaves the session as it found it, and a route
    # that works on a connection of its own (the intake) holds no second one meanwhile.
    key = api_keys.verify(db.engine, token.strip())  # type: ignore[arg-type]
    if key is None:
        raise Unauthorized("The API key is unknown or revoked.")
    if key.partner_status == PartnerStatus.SUSPENDED:
        raise PartnerSuspended()
    if key.signing_secret is not None:
        check_signature(key.signing_secret)
    principal = Principal(
        key_id=key.id,
        scope=key.scope,
        partner_id=key.partner_id,
    )
    if principal.scope != "admin" and principal.scope not in allowed:
        raise Forbidden(f"This route needs a key with scope: {', '.join(('admin', *allowed))}.")
    return principal


def signed_path() -> str:
    """The path a signature covers: the request target as the request line has it, without
    its query string (the WSGI server's RAW_URI or REQUEST_URI); else the routed path,
    percent-encoded."""
    target = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not target:
        return quote(request.script_root + request.path)
    if not target.startswith("/"):  # an absolute-form target: http://host/path?query
        return urlsplit(target).path or "/"
    return target.partition("?")[0].partition("#")[0]


def check_signature(secret: str) -> None:
    """401 unless the request is signed with `secret`, fresh, and signed so for the first
    time; an accepted signature is remembered (committed) before the route does anything."""
    now = time.time()  # the wall clock: senders sign with theirs
    try:
        verified = signatures.verify(secret, request.headers.get(signatures.HEADER),
                                     request.method, signed_path(), request.get_data(cache=True),
                                     now)  # fmt: skip
    except signatures.SignatureError as exc:
        raise Unauthorized(str(exc)) from None
    used = current_app.extensions["used_signatures"]
    if not used.claim(verified.digest, verified.expires_at, now):
        raise Unauthorized("This signature was used already: sign every request anew.")


def check_path(values: dict[str, Any]) -> None:
    """404 for path values no stored object can have (ids outside 1..MAX_ID, the range of
    their INTEGER column, and text with NUL), before anything reaches the database. (Flask's
    `int` converter already refuses a sign, so -1 never gets here: it is 404 too.)"""
    for name, value in values.items():
        out_of_range = isinstance(value, int) and not 1 <= value <= MAX_ID
        if out_of_range or (isinstance(value, str) and NUL in value):
            raise NotFound(f"No object has this {name}.")


def dump(value: Any) -> str | bytes:
    """The response body: pydantic writes its models' JSON itself, in one pass."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, ensure_ascii=False)


def endpoint(
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    scopes: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    responses: dict[int, str] | None = None,
    content_type: str = "application/json",
    body_optional: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an authenticated, validated JSON route and document it."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        ENDPOINTS.append(
            Endpoint(
                rule,
                method,
                summary,
                scopes,
                body,
                query,
                response,
                status,
                responses or {},
                content_type,
                body_optional,
            )
        )

        @wraps(func)
        def view(**kwargs: Any) -> Any:
            principal = authenticate(scopes)
            check_path(kwargs)
            if body is not None:
                kwargs["body"] = parse_body(body, body_optional)
            if query is not None:
                kwargs["query"] = parse_query(query)
            result = func(principal, **kwargs)
            if isinstance(result, Response):
                return result
            code = status
            if isinstance(result, tuple):
                result, code = result
            return current_app.response_class(
                dump(result),
                status=code,
                mimetype="application/json",
            )

        api.add_url_rule(rule, endpoint=func.__name__, view_func=view, methods=[method])
        return view

    return decorate
