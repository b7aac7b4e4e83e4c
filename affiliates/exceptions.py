"""Domain exceptions: services raise them, views map them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """A use case refused; carries the HTTP status a view should answer with."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """One or more fields fail a rule that needs the database to check."""

    status = 422
    title = "Validation failed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [{"field": field, "message": message}])


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class PartnerSuspended(Forbidden):
    """The key's partner is suspended: its keys answer 403 until it is reinstated."""

    title = "Partner suspended"

    def __init__(self) -> None:
        super().__init__("Partner suspended: its API keys work again once it is reinstated.")


class Unavailable(DomainError):
    """A service the request needs (Redis) does not answer; retrying later may succeed."""

    status = 503
    title = "Service unavailable"
