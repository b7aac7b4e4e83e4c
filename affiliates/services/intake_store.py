"""The intake's store: the one seam through which conversion intake reads and writes.

Like the click log, it speaks DBAPI (sqlite3 or psycopg) with its own SQL and converts every
value itself (Money as text on SQLite and Decimal on PostgreSQL, UTC timestamps as
SQLAlchemy's SQLite text, JSON as json.dumps, flags as integers on SQLite): SQLAlchemy's
per-statement work would cost more than the statements. It works on a connection of the
intake's own, held by the thread on a SQLite file and taken from the pool elsewhere (where
pre-ping notices a restarted server). The rare reads (a promo code, a repeat's original)
are plain Core on the same connection. Driver errors become SQLAlchemy's, a lost connection
invalidated, so the rest of the code (the 503 handler) sees what it expects.

One conversion is one read of its touches, then one short write transaction: every value is
converted before the writer's turn (which, on SQLite, holds the database's one write lock),
and the transaction commits inside the turn, so the next writer finds the lock free.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from affiliates import attribution as engine
from affiliates.database import HeldConnections, WriterQueue, sqlite_timestamp
from affiliates.models import Conversion, Partner, PromoCode
from affiliates.money import CENT


@dataclass(frozen=True)
class IntakeOffer:
    """What the intake needs to know of the offer."""

    id: int
    currency: str
    hold_days: int
    attribution_window_days: int
    attribution_priority: list[str]
    min_click_to_conversion_seconds: int
    require_click_for_code: bool
    max_discount_percent: Decimal | None
    target_cac: Decimal | None
    pixel: str


@dataclass(frozen=True)
class OfferTouches:
    """The offer and every touch but a promo code, as one statement read them."""

    offer: IntakeOffer
    click: engine.ClickTouch | None
    # an order of the same type already claimed this click
    click_reused: bool
    ref: engine.RefTouch | None
    customer: engine.CustomerTouch | None
    # changes whenever any commission rule does (see commission_rules.rules_for)
    rules_stamp: tuple[Any, ...]


@dataclass
class PromoRow:
    """A promo code's terms, with its partner's email and status."""

    id: int
    code: str
    code_key: str
    partner_id: int
    offer_id: int
    discount_type: str
    discount_value: Decimal
    max_uses: int | None
    uses: int
    max_uses_per_customer: int | None
    min_order_amount: Decimal | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    active: bool
    created_at: dt.datetime
    partner_email: str
    partner_status: str

    @property
    def partner(self) -> engine.PartnerFacts:
        """The code's partner as the attribution engine sees it."""
        return _partner(self.partner_id, self.partner_email, self.partner_status)


@dataclass(frozen=True)
class NewConversion:
    """A conversion to write: every column but its id."""

    offer_id: int
    type: str
    order_id: str
    amount: Decimal
    refunded_amount: Decimal
    currency: str
    customer_key: str | None
    click_id: str | None
    promo_code_id: int | None
    utm_source: str | None
    utm_campaign: str | None
    partner_id: int | None
    attribution: str | None
    status: str
    reason: str | None
    flags: list[str]
    explanation: list[str]
    warnings: list[dict[str, str]]
    pixel_unverified: bool
    commission: Decimal
    rule_id: int | None
    rule_version: int | None
    new_customer: bool | None
    items: list[dict[str, Any]] | None
    source: str
    occurred_at: dt.datetime
    hold_until: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class StoredConversion(NewConversion):
    """A conversion as it is recorded, with its id."""

    id: int


@dataclass(frozen=True)
class NewBinding:
    """The customer bound to the new conversion's partner: a first binding (the first one
    written wins), or, with `lapsed_before`, one taking over a binding attributed before
    that moment."""

    offer_id: int
    customer_key: str
    partner_id: int
    attributed_at: dt.datetime
    lapsed_before: dt.datetime | None = None


@dataclass(frozen=True)
class NewAuditEntry:
    """The audit entry of the new conversion (its entity id is the conversion's)."""

    entity: str
    action: str
    actor: str
    at: dt.datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class PromoCodeExhausted(Exception):
    """The code's last use went to another order first; nothing was written."""


# Connections held per thread (a SQLite file), and the queue for SQLite's one write lock.
_CONNECTIONS = HeldConnections()
_WRITERS = WriterQueue("-intakelock")


@contextmanager
def connect(bind: Engine) -> Iterator[IntakeStore]:
    """The store on a connection of the intake's own for the block; whatever the block
    leaves uncommitted is rolled back."""
    with _CONNECTIONS.connect(bind) as conn:
        yield IntakeStore(conn)


class IntakeStore:
    """Reads an order's touches and writes its conversion, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self._driver: Any = conn.connection.dbapi_connection
        self._dialect = conn.dialect
        self._error: type[Any] = conn.dialect.loaded_dbapi.Error
        self._sql = _SQLITE if conn.dialect.name == "sqlite" else _POSTGRESQL

    # reads ---------------------------------------------------------------------------------

    def touches(
        self,
        offer_id: int,
        kind: str,
        click_id: str | None,
        ref_code: str | None,
        customer_key: str | None,
    ) -> OfferTouches | None:
        """The offer's terms, the click with its link and partner (and whether an order of
        this type claimed it already), the partner whose ref code is `ref_code`, the
        customer's binding and the rules' stamp, in one statement; None for an unknown
        offer."""
        sql = self._sql
        params = {"offer_id": offer_id, "ref_code": ref_code, "customer_key": customer_key}
        if click_id:
            params.update(click_id=click_id[:32], type=kind)
            rows = self._run(sql.touches_with_click, params)
        else:
            rows = self._run(sql.touches, params)
        if not rows:
            return None
        (o_id, currency, hold_days, window_days, priority, min_click_seconds, require_click,
         max_discount, target_cac, pixel,
         c_id, c_created_at, c_is_bot, c_attributable, l_id, l_archived_at, cp_id, cp_email,
         cp_status, claimed,
         r_id, r_email, r_status, r_ref_code,
         b_attributed_at, bp_id, bp_email, bp_status,
         *stamp) = rows[0]  # fmt: skip
        offer = IntakeOffer(
            o_id, currency, hold_days, window_days, sql.json_out(priority), min_click_seconds,
            bool(require_click), sql.money_out(max_discount), sql.money_out(target_cac), pixel,
        )  # fmt: skip
        click = None
        if c_id is not None and l_id is not None and cp_id is not None:
            click = engine.ClickTouch(
                id=c_id,
                partner=_partner(cp_id, cp_email, cp_status),
                created_at=sql.time_out(c_created_at),
                is_bot=bool(c_is_bot),
                attributable=bool(c_attributable),
                link_archived=l_archived_at is not None,
            )
        ref = None
        if r_id is not None:
            ref = engine.RefTouch(r_ref_code, _partner(r_id, r_email, r_status))
        customer = None
        if bp_id is not None:
            customer = engine.CustomerTouch(
                _partner(bp_id, bp_email, bp_status), sql.time_out(b_attributed_at)
            )
        return OfferTouches(offer, click, click is not None and bool(claimed), ref, customer,
                            tuple(stamp))  # fmt: skip

    def promo(self, code_key: str) -> PromoRow | None:
        """The promo code with this key (see PromoCode.key_for), or None."""
        found = self.connection.execute(_PROMO, {"code_key": code_key}).mappings().first()
        return None if found is None else PromoRow(**found)

    def customer_uses(self, promo_id: int, customer_key: str, closed: Sequence[str]) -> int:
        """How many of the customer's conversions with this code are in no `closed` status."""
        count = (
            select(func.count())
            .select_from(Conversion)
            .where(
                Conversion.promo_code_id == promo_id,
                Conversion.customer_key == customer_key,
                Conversion.status.not_in(closed),
            )
        )
        return int(self.connection.scalar(count) or 0)

    def existing(self, offer_id: int, kind: str, order_id: str) -> StoredConversion | None:
        """The conversion recorded for this order, or None."""
        found = (
            self.connection.execute(
                select(Conversion.__table__).where(
                    Conversion.offer_id == offer_id,
                    Conversion.type == kind,
                    Conversion.order_id == order_id,
                )
            )
            .mappings()
            .first()
        )
        return None if found is None else StoredConversion(**found)

    # the write -----------------------------------------------------------------------------

    def write(
        self,
        conversion: NewConversion,
        binding: NewBinding | None,
        entry: NewAuditEntry,
        promo_use: int | None = None,
    ) -> int | None:
        """Write the conversion, its customer's binding and its audit entry in one
        transaction, taking one use of the promo code `promo_use` first; the new
        conversion's id, or None when this order is recorded already (the unique key of
        offer, type and order id refused the copy, and nothing was written).

        Raises PromoCodeExhausted when the code has no use left (nothing was written).
        """
        sql = self._sql
        values = sql.conversion_values(conversion)
        if binding is None:
            bind: tuple[str, dict[str, Any]] | None = None
        elif binding.lapsed_before is None:
            bind = sql.bind, sql.binding_values(binding)
        else:
            bind = sql.rebind, sql.binding_values(binding)
        audit = sql.audit_values(entry)
        # the read of the touches may have begun a transaction (PostgreSQL): the writes join it
        with _WRITERS.turn(self.connection):
            try:
                # one guarded UPDATE, never read-then-write: of racing orders only as many
                # as the code has uses left get one
                if promo_use is not None and not self._run(sql.consume, {"promo_id": promo_use},
                                                           rowcount=True):  # fmt: skip
                    raise PromoCodeExhausted(promo_use)
                try:
                    # the unique key on (offer, type, order id) decides between racing copies
                    new_id = self._run(sql.insert_conversion, values)[0][0]
                except IntegrityError as exc:
                    if not _is_unique_violation(exc.orig):
                        raise
                    self._rollback()
                    return None
                if bind is not None:
                    bind[1]["conversion_id"] = new_id
                    self._run(*bind)
                audit["entity_id"] = new_id
                self._run(sql.insert_audit, audit)
                # committed in the turn, so the next writer finds SQLite's lock free
                self._driver.commit()
            except BaseException:
                # end the write transaction before leaving the queue, so the next writer is
                # not made to poll for SQLite's lock
                self._rollback()
                raise
        return int(new_id)

    def confirm(self, confirmed: StoredConversion, entry: NewAuditEntry) -> bool:
        """Write the server's confirmation of a pixel conversion (`confirmed`: the row as it
        is to be) and its audit entry in one transaction; False when the row no longer waits
        for one (a racing postback, or staff, came first), and nothing was written."""
        sql = self._sql
        values = sql.conversion_values(confirmed)
        params = {name: values[name] for name in _CONFIRMED_COLUMNS}
        params.update(id=confirmed.id, waiting=sql.flag(True), pending="pending")
        audit = sql.audit_values(entry)
        audit["entity_id"] = confirmed.id
        with _WRITERS.turn(self.connection):
            try:
                # a guarded UPDATE on the flag, never read-then-write: of racing postbacks
                # of the same order one confirms it, the others find it confirmed
                if not self._run(sql.confirm, params, rowcount=True):
                    self._rollback()
                    return False
                self._run(sql.insert_audit, audit)
                self._driver.commit()
            except BaseException:
                self._rollback()
                raise
        return True

    # the driver ----------------------------------------------------------------------------

    def _rollback(self) -> None:
        """End the driver's transaction (a lost connection has none left to end)."""
        if not self.connection.invalidated:
            self._driver.rollback()

    def _run(self, sql: str, params: Mapping[str, Any], rowcount: bool = False) -> Any:
        """Execute one statement in the store's transaction: its rows (or its row count);
        a driver error is raised as SQLAlchemy's, a lost connection invalidated."""
        cursor = self._driver.cursor()
        try:
            cursor.execute(sql, params)
            if rowcount:
                return cursor.rowcount
            return cursor.fetchall() if cursor.description is not None else []
        except self._error as exc:
            invalidated = self._dialect.is_disconnect(exc, self._driver, cursor)
            if invalidated:
                self.connection.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, self._error,
                                      connection_invalidated=invalidated,
                                      dialect=self._dialect) from exc  # fmt: skip
        finally:
            cursor.close()


def _partner(partner_id: int, email: str, status: str) -> engine.PartnerFacts:
    return engine.PartnerFacts(partner_id, email, status == "active")


def _is_unique_violation(error: Any) -> bool:
    # the only unique key a new conversion can break is (offer, type, order id)
    return (
        getattr(error, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_UNIQUE"
        or getattr(error, "sqlstate", None) == "23505"
    )


# the code with its partner's facts, in one statement
_PROMO = (
    select(PromoCode.__table__, Partner.email.label("partner_email"),
           Partner.status.label("partner_status"))
    .join(Partner, Partner.id == PromoCode.partner_id)
    .where(PromoCode.code_key == bindparam("code_key"))
)  # fmt: skip

# Without a click id the click's columns are NULLs and its tables are not joined at all, so
# the statement reads none of their pages. A lead then a sale through one click is the
# normal funnel; two orders of one type through it are not (claimed). Every change to the
# rules changes one of the last four columns, the stamp: a new rule the count and the
# largest id, an edit the versions' sum, any update (a deactivation too) the latest
# updated_at; an intake whose copy of the rules has the same stamp reads them no more.
_TOUCHES = """
SELECT o.id, o.currency, o.hold_days, o.attribution_window_days, o.attribution_priority,
 o.min_click_to_conversion_seconds, o.require_click_for_code, o.max_discount_percent,
 o.target_cac, o.pixel,
 {click},
 r.id, r.email, r.status, r.ref_code,
 b.attributed_at, bp.id, bp.email, bp.status,
 (SELECT count(*) FROM commission_rules), (SELECT max(id) FROM commission_rules),
 (SELECT sum(version) FROM commission_rules), (SELECT max(updated_at) FROM commission_rules)
FROM offers o{click_joins}
LEFT OUTER JOIN partners r ON r.ref_code = :ref_code
LEFT OUTER JOIN customer_bindings b ON b.offer_id = o.id AND b.customer_key = :customer_key
LEFT OUTER JOIN partners bp ON bp.id = b.partner_id
WHERE o.id = :offer_id
"""
_CLICK = """c.id, c.created_at, c.is_bot, c.attributable, l.id, l.archived_at, cp.id, cp.email,
 cp.status,
 EXISTS (SELECT 1 FROM conversions cv WHERE cv.click_id = c.id AND cv.type = :type)"""
_CLICK_JOINS = """
LEFT OUTER JOIN clicks c ON c.id = :click_id AND c.offer_id = o.id
LEFT OUTER JOIN links l ON l.id = c.link_id
LEFT OUTER JOIN partners cp ON cp.id = c.partner_id"""
_NO_CLICK = ", ".join(["NULL"] * 10)

_CONVERSION_COLUMNS = tuple(NewConversion.__dataclass_fields__)
_INSERT_CONVERSION = (
    f"INSERT INTO conversions ({', '.join(_CONVERSION_COLUMNS)})"  # noqa: S608 - fixed names
    f" VALUES ({', '.join(':' + name for name in _CONVERSION_COLUMNS)}) RETURNING id"
)
_CONSUME = (
    "UPDATE promo_codes SET uses = uses + 1"
    " WHERE id = :promo_id AND (max_uses IS NULL OR uses < max_uses)"
)
# a racing first order may bind the customer first: the unique key keeps that one
_BIND = (
    "INSERT INTO customer_bindings (offer_id, customer_key, partner_id, conversion_id,"
    " attributed_at) VALUES (:offer_id, :customer_key, :partner_id, :conversion_id,"
    " :attributed_at) ON CONFLICT DO NOTHING"
)
# a lapsed binding passes to the new partner, unless a racing order took it over first
_REBIND = (
    "UPDATE customer_bindings SET partner_id = :partner_id, conversion_id = :conversion_id,"
    " attributed_at = :attributed_at"
    " WHERE offer_id = :offer_id AND customer_key = :customer_key"
    " AND attributed_at < :lapsed_before"
)
# what the server's postback sets on a pixel conversion it confirms
_CONFIRMED_COLUMNS = (
    "amount", "commission", "rule_id", "rule_version", "items", "new_customer", "flags",
    "explanation", "warnings", "pixel_unverified", "updated_at",
)  # fmt: skip
_CONFIRM = (
    "UPDATE conversions SET "  # noqa: S608 - fixed names
    + ", ".join(f"{name} = :{name}" for name in _CONFIRMED_COLUMNS)
    + " WHERE id = :id AND pixel_unverified = :waiting AND status = :pending"
    " AND refunded_amount <= :amount"
)
_INSERT_AUDIT = (
    'INSERT INTO audit_entries (entity, entity_id, action, actor, at, "before", "after",'
    " reason) VALUES (:entity, :entity_id, :action, :actor, :at, :before, :after, :reason)"
)


class _SQLite:
    """The statements in sqlite3's parameter style, and SQLite's values."""

    def __init__(self) -> None:
        style = self.style
        self.touches = style(_TOUCHES.format(click=_NO_CLICK, click_joins=""))
        self.touches_with_click = style(_TOUCHES.format(click=_CLICK, click_joins=_CLICK_JOINS))
        self.insert_conversion = style(_INSERT_CONVERSION)
        self.consume = style(_CONSUME)
        self.bind = style(_BIND)
        self.rebind = style(_REBIND)
        self.insert_audit = style(_INSERT_AUDIT)
        self.confirm = style(_CONFIRM)

    @staticmethod
    def style(sql: str) -> str:
        """The statement in the driver's parameter style (sqlite3 takes :name itself)."""
        return sql

    # into the database

    @staticmethod
    def money(value: Decimal) -> Any:
        return str(Decimal(value).quantize(CENT))

    @staticmethod
    def time(value: dt.datetime | None) -> Any:
        return None if value is None else sqlite_timestamp(value)

    @staticmethod
    def flag(value: bool | None) -> Any:
        return None if value is None else int(value)

    def conversion_values(self, new: NewConversion) -> dict[str, Any]:
        values = dict(vars(new))
        money, time, dumps = self.money, self.time, json.dumps
        values["amount"] = money(new.amount)
        values["refunded_amount"] = money(new.refunded_amount)
        values["commission"] = money(new.commission)
        values["flags"] = dumps(new.flags)
        values["explanation"] = dumps(new.explanation)
        values["warnings"] = dumps(new.warnings)
        values["pixel_unverified"] = self.flag(new.pixel_unverified)
        # None too is written as JSON (null), as SQLAlchemy's JSON type writes it
        values["items"] = dumps(new.items)
        values["new_customer"] = self.flag(new.new_customer)
        for name in ("occurred_at", "hold_until", "created_at", "updated_at"):
            values[name] = time(values[name])
        return values

    def binding_values(self, binding: NewBinding) -> dict[str, Any]:
        values = dict(vars(binding))
        values["attributed_at"] = self.time(binding.attributed_at)
        values["lapsed_before"] = self.time(binding.lapsed_before)
        values["conversion_id"] = None  # known once the conversion is in
        return values

    def audit_values(self, entry: NewAuditEntry) -> dict[str, Any]:
        values = dict(vars(entry))
        values["at"] = self.time(entry.at)
        values["before"] = json.dumps(entry.before)
        values["after"] = json.dumps(entry.after)
        values["entity_id"] = None  # known once the conversion is in
        return values

    # out of it

    @staticmethod
    def money_out(value: Any) -> Decimal | None:
        # SQLite keeps NUMERIC as an integer or a float: its text is the decimal's
        return None if value is None else Decimal(str(value)).quantize(CENT)

    @staticmethod
    def time_out(value: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)

    @staticmethod
    def json_out(value: Any) -> Any:
        return json.loads(value)


class _PostgreSQL(_SQLite):
    """The statements in psycopg's parameter style, and PostgreSQL's values."""

    @staticmethod
    def style(sql: str) -> str:
        return re.sub(r":(\w+)", r"%(\1)s", sql)

    @staticmethod
    def money(value: Decimal) -> Any:
        return Decimal(value).quantize(CENT)

    @staticmethod
    def time(value: dt.datetime | None) -> Any:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=dt.UTC)

    @staticmethod
    def flag(value: bool | None) -> Any:
        return value

    @staticmethod
    def time_out(value: Any) -> dt.datetime:
        return value.astimezone(dt.UTC)

    @staticmethod
    def json_out(value: Any) -> Any:
        return value  # psycopg reads JSON itself


_SQLITE = _SQLite()
_POSTGRESQL = _PostgreSQL()
