"""Who is reading: staff with a role, or one partner. Read services take a viewer and
apply its scope themselves, so no face (API, cabinet, admin pages) repeats the rule.

A partner sees the rows it owns (and those shared with every partner, such as the active
offers); another partner's object is as if it did not exist. Staff see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import Select, false, or_
from sqlalchemy.sql import ColumnElement

from affiliates.exceptions import NotFound

StaffRole = Literal["admin", "analyst"]
STAFF_ROLES: tuple[str, ...] = get_args(StaffRole)

T = TypeVar("T")


@dataclass(frozen=True)
class Viewer:
    """Staff (`role` admin or analyst, no partner) or one partner (`role` partner)."""

    role: str
    partner_id: int | None = None

    def __post_init__(self) -> None:
        if self.role == "partner":
            if self.partner_id is None:
                raise ValueError("A partner viewer needs its partner_id.")
        elif self.role not in STAFF_ROLES or self.partner_id is not None:
            raise ValueError(f"A staff viewer has one of the roles {', '.join(STAFF_ROLES)}.")

    @classmethod
    def staff(cls, role: str = "admin") -> Viewer:
        """Staff with a role: `admin` or `analyst`."""
        return cls(role)

    @classmethod
    def partner(cls, partner_id: int) -> Viewer:
        """One partner: it sees its own objects only."""
        return cls("partner", partner_id)

    @property
    def is_staff(self) -> bool:
        """Whether this viewer sees every partner's objects."""
        return self.partner_id is None

    def partner_filter(self, requested: int | None) -> int | None:
        """The partner a read is narrowed to: a partner's own, whatever was asked (as the API
        has always done with `?partner_id=`); for staff, what was asked, if anything."""
        return requested if self.partner_id is None else self.partner_id

    def scope(
        self,
        stmt: Select[T],
        owner: Any,
        requested: int | None = None,
        *,
        shared: ColumnElement[bool] | None = None,
    ) -> Select[T]:
        """`stmt` narrowed to the rows this viewer may read, and to the `requested` partner.

        `owner` is the column naming the partner a row belongs to, or None for rows that
        belong to no partner (staff's alone, unless `shared`); `shared` is the condition of
        rows every partner may read besides its own.
        """
        partner_id = self.partner_filter(requested)
        if self.is_staff:
            return stmt if partner_id is None or owner is None else stmt.where(owner == partner_id)
        own = false() if owner is None else owner == partner_id
        return stmt.where(own if shared is None else or_(own, shared))

    def acting_for(self, partner_id: int | None) -> int | None:
        """The partner a write names: for a partner, its own (another partner is NotFound, as
        if unknown); for staff, the one named, if any."""
        if self.partner_id is None:
            return partner_id
        if partner_id is not None and partner_id != self.partner_id:
            raise NotFound(f"Partner {partner_id} does not exist.")
        return self.partner_id


def visible(viewer: Viewer | None, owner: int | None, *, shared: bool = False) -> bool:
    """Whether one object, belonging to partner `owner` (None: to no partner), may be read.

    No viewer is a use case's own lookup (a refund finding its conversion): no scope."""
    if viewer is None or viewer.is_staff:
        return True
    return shared or (owner is not None and owner == viewer.partner_id)
