"""Pydantic's errors in the words every face shows: the contract's `[{field, message}]`."""

from __future__ import annotations

from pydantic import ValidationError


def validation_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as the contract's [{field, message}]."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = [str(part) for part in err["loc"] if not str(part).startswith("function-")]
        name = ".".join(loc) or prefix or "body"
        errors.append({"field": name, "message": err["msg"].removeprefix("Value error, ")})
    return errors
