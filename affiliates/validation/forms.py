"""Domain checks as WTForms validators, so a page's form refuses what the API refuses, in
the same words. Not imported by `affiliates.validation` itself: WTForms loads only where
forms are built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wtforms import Field, Form
from wtforms.validators import ValidationError


def checked(check: Callable[[Any], Any]) -> Callable[[Form, Field], None]:
    """A WTForms validator running `check` on the field's data: its `ValueError` becomes the
    field's error with the same message, and its normalised value becomes the field's data."""

    def validate(form: Form, field: Field) -> None:
        try:
            field.data = check(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return validate
