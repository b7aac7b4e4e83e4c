"""Program statistics: clicks, unique and bot clicks, and the conversion figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    Interval,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    outerjoin,
    select,
)
from sqlalchemy.orm import Session

from affiliates.models import Click, Conversion, LedgerEntry, Offer, Payout, PromoCode
from affiliates.money import CENT, ZERO
from affiliates.services.viewer import Viewer

UNIQUE_WINDOW = dt.timedelta(hours=24)
GROUPS = ("day", "link", "utm_campaign", "sub_id", "promo_code")


@dataclass
class Figures:
    clicks: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    conversions: int = 0
    sales_amount: Decimal = ZERO
    commission_pending: Decimal = ZERO
    commission_approved: Decimal = ZERO
    commission_paid: Decimal = ZERO
    new_customers: int = 0
    # commission of the conversions that brought new customers
    new_customer_commission: Decimal = ZERO
    target_cac: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        earned = self.commission_pending + self.commission_approved + self.commission_paid
        rate = Decimal(self.conversions) / self.clicks if self.clicks else Decimal(0)
        epc = earned / self.clicks if self.clicks else ZERO
        return {
            "clicks": self.clicks,
            "unique_clicks": self.unique_clicks,
            "bot_clicks": self.bot_clicks,
            "conversions": self.conversions,
            "sales_amount": self.sales_amount,
            "commission_pending": self.commission_pending,
            "commission_approved": self.commission_approved,
            "commission_paid": self.commission_paid,
            "conversion_rate": rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            "epc": epc.quantize(CENT, rounding=ROUND_HALF_UP),
            "new_customers": self.new_customers,
            "cost_per_new_customer": (
                (self.new_customer_commission / self.new_customers).quantize(
                    CENT, rounding=ROUND_HALF_UP
                )
                if self.new_customers
                else None
            ),
            "target_cac": self.target_cac,
        }


def period(
    start: dt.datetime | dt.date | None, end: dt.datetime | dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) in UTC; a date `to` includes that whole day."""
    return _instant(start, 0), _instant(end, 1)


def _instant(value: dt.datetime | dt.date | None, days_after: int) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), dt.UTC) + dt.timedelta(days=days_after)


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _gap_at_least_a_day(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) >= 1
    # typed, or the window would be bound as a timestamp (the columns' own type)
    return (later - earlier) >= literal(UNIQUE_WINDOW, Interval())


def click_figures(
    session: Session,
    partner_id: int | None,
    offer_id: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    group_by: str | None,
) -> tuple[Figures, dict[str | None, Figures]]:
    """Totals and per-group click figures for the filters."""
    key_column: Any
    if group_by == "day":
        key_column = _day(session, Click.created_at)
    elif group_by == "link":
        key_column = cast(Click.link_id, String)
    elif group_by in ("utm_campaign", "sub_id"):
        key_column = getattr(Click, group_by)
    elif group_by in ("partner", "offer"):
        key_column = cast(getattr(Click, f"{group_by}_id"), String)
    else:
        key_column = literal(None, String)
    previous = func.lag(Click.created_at).over(
        partition_by=(Click.link_id, Click.visitor_key, Click.is_bot), order_by=Click.created_at
    )
    conditions = []
    if partner_id is not None:
        conditions.append(Click.partner_id == partner_id)
    if offer_id is not None:
        conditions.append(Click.offer_id == offer_id)
    if start is not None:
        # look back one window so the first clicks of the period are judged fairly
        conditions.append(Click.created_at >= start - UNIQUE_WINDOW)
    if end is not None:
        conditions.append(Click.created_at < end)
    inner = (
        select(
            key_column.label("key"),
            Click.created_at.label("created_at"),
            Click.is_bot.label("is_bot"),
            previous.label("previous"),
        )
        .where(and_(True, *conditions))
        .subquery()
    )
    unique = and_(
        inner.c.is_bot.is_(False),
        or_(inner.c.previous.is_(None), _gap_at_least_a_day(session, inner.c.created_at,
                                                            inner.c.previous)),
    )  # fmt: skip
    human = case((inner.c.is_bot.is_(False), 1), else_=0)
    stmt = select(
        inner.c.key,
        func.coalesce(func.sum(human), 0),
        func.coalesce(func.sum(case((unique, 1), else_=0)), 0),
        func.coalesce(func.sum(cast(inner.c.is_bot, Integer)), 0),
    ).group_by(inner.c.key)
    if start is not None:
        stmt = stmt.where(inner.c.created_at >= start)
    totals = Figures()
    rows: dict[str | None, Figures] = {}
    for key, clicks, uniques, bots in session.execute(stmt):
        if group_by is None or group_by == "promo_code":
            key = None
        figures = rows.setdefault(key, Figures())
        figures.clicks += int(clicks)
        figures.unique_clicks += int(uniques)
        figures.bot_clicks += int(bots)
        totals.clicks += int(clicks)
        totals.unique_clicks += int(uniques)
        totals.bot_clicks += int(bots)
    if group_by is None:
        return totals, {}
    if group_by == "promo_code":
        # Clicks carry no promo code; codes appear with the conversions they brought.
        stmt_codes = select(PromoCode.code)
        if partner_id is not None:
            stmt_codes = stmt_codes.where(PromoCode.partner_id == partner_id)
        if offer_id is not None:
            stmt_codes = stmt_codes.where(PromoCode.offer_id == offer_id)
        return totals, {code: Figures() for code in session.scalars(stmt_codes)}
    return totals, rows


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def conversion_figures(
    session: Session,
    partner_id: int | None,
    offer_id: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    group_by: str | None,
) -> tuple[Figures, dict[str | None, Figures]]:
    """Conversions, net sales and commission by status, for the same filters and groups.

    Rejected and reversed conversions are not counted; organic ones (no partner) count in
    the program's totals when no partner is asked for. Read in proportion to what the
    filters select, never the whole click log or ledger: the conversions, joined to their
    clicks or codes only when the grouping needs them, and the paid ledger entries of the
    same conversions. No cache: a status change shows in the next answer.
    """
    key_column: Any
    joins: tuple[str, ...] = ()
    if group_by == "day":
        key_column = _day(session, Conversion.occurred_at)
    elif group_by == "link":
        key_column, joins = cast(Click.link_id, String), ("click",)
    elif group_by == "utm_campaign":
        key_column = func.coalesce(Conversion.utm_campaign, Click.utm_campaign)
        joins = ("click",)
    elif group_by == "sub_id":
        key_column, joins = Click.sub_id, ("click",)
    elif group_by == "promo_code":
        key_column, joins = PromoCode.code, ("promo_code",)
    elif group_by in ("partner", "offer"):
        key_column = cast(getattr(Conversion, f"{group_by}_id"), String)
    else:
        key_column = literal(None, String)
    counted = Conversion.status.in_(("pending", "approved"))
    approved = Conversion.status == "approved"
    net = Conversion.amount - Conversion.refunded_amount

    def total(expression: Any, condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, expression), else_=0)), 0)

    def within(stmt: Any) -> Any:
        if partner_id is not None:
            stmt = stmt.where(Conversion.partner_id == partner_id)
        if offer_id is not None:
            stmt = stmt.where(Conversion.offer_id == offer_id)
        if start is not None:
            stmt = stmt.where(Conversion.occurred_at >= start)
        if end is not None:
            stmt = stmt.where(Conversion.occurred_at < end)
        return stmt

    def grouped(stmt: Any) -> Any:
        if "click" in joins:
            stmt = stmt.outerjoin(Click, Click.id == Conversion.click_id)
        if "promo_code" in joins:
            stmt = stmt.outerjoin(PromoCode, PromoCode.id == Conversion.promo_code_id)
        return within(stmt).group_by(key_column)

    # What the ledger has paid out for these conversions (commission less clawbacks, in
    # paid payouts): all of it is paid; an approved conversion's is no longer "approved".
    # Read apart, by the key; but when the key is the click's, the click log is joined
    # once: the paid amount of each filtered conversion is joined to the one read.
    paid_entries = within(
        select(LedgerEntry.conversion_id, func.sum(LedgerEntry.amount).label("amount"))
        .join(Payout, Payout.id == LedgerEntry.payout_id)
        .join(Conversion, Conversion.id == LedgerEntry.conversion_id)
        .where(Payout.status == "paid")
    )
    paid_apart = "click" not in joins
    source: Any = Conversion
    paid_columns: tuple[Any, Any] = (literal(0), literal(0))
    if not paid_apart:
        each_paid = (
            select(LedgerEntry.conversion_id, func.sum(LedgerEntry.amount).label("amount"))
            .join(Payout, Payout.id == LedgerEntry.payout_id)
            .where(Payout.status == "paid")
        )
        if (partner_id, offer_id, start, end) != (None, None, None, None):
            # only the filtered conversions' entries; unfiltered, the join would be a
            # lookup per entry for nothing
            each_paid = within(
                each_paid.join(Conversion, Conversion.id == LedgerEntry.conversion_id)
            )
        each = each_paid.group_by(LedgerEntry.conversion_id).subquery()
        source = outerjoin(Conversion, each, each.c.conversion_id == Conversion.id)
        paid = func.coalesce(each.c.amount, 0)
        paid_columns = (func.coalesce(func.sum(paid), 0), total(paid, approved))
    stmt = grouped(
        select(
            key_column.label("key"),
            total(literal(1), counted),
            total(net, counted),
            total(Conversion.commission, Conversion.status == "pending"),
            total(Conversion.commission, approved),
            total(literal(1), counted & Conversion.new_customer.is_(True)),
            total(Conversion.commission, counted & Conversion.new_customer.is_(True)),
            *paid_columns,
        ).select_from(source)
    )
    results = list(session.execute(stmt))
    if paid_apart:
        paid_stmt = grouped(
            paid_entries.with_only_columns(
                key_column.label("key"),
                literal(0), literal(0), literal(0), literal(0), literal(0), literal(0),
                func.coalesce(func.sum(LedgerEntry.amount), 0),
                total(LedgerEntry.amount, approved),
            )
        )  # fmt: skip
        results += session.execute(paid_stmt)
    totals = Figures()
    rows: dict[str | None, Figures] = {}
    for key, count, sales, pending, approved_sum, new, new_paid, paid_out, paid_approved in results:
        parts = [totals] if group_by is None else [totals, rows.setdefault(key, Figures())]
        for figures in parts:
            figures.conversions += int(count)
            figures.sales_amount += _money(sales)
            figures.commission_pending += _money(pending)
            figures.commission_approved += _money(approved_sum) - _money(paid_approved)
            figures.commission_paid += _money(paid_out)
            figures.new_customers += int(new)
            figures.new_customer_commission += _money(new_paid)
    return totals, rows


def _merge(into: Figures, other: Figures) -> None:
    into.conversions += other.conversions
    into.sales_amount += other.sales_amount
    into.commission_pending += other.commission_pending
    into.commission_approved += other.commission_approved
    into.commission_paid += other.commission_paid
    into.new_customers += other.new_customers
    into.new_customer_commission += other.new_customer_commission


def _targets(session: Session, offer_id: int | None, rows: dict[str | None, Figures],
             totals: Figures, group_by: str | None) -> None:  # fmt: skip
    """Put each offer's target CAC next to its effective cost per new customer."""
    if offer_id is not None:
        totals.target_cac = session.scalar(select(Offer.target_cac).where(Offer.id == offer_id))
    if group_by == "offer":
        ids = [int(key) for key in rows if key is not None]
        found = session.execute(select(Offer.id, Offer.target_cac).where(Offer.id.in_(ids)))
        targets = {offer: target for offer, target in found}
        for key, figures in rows.items():
            if key is not None:
                figures.target_cac = targets.get(int(key))


def stats(
    session: Session,
    partner_id: int | None = None,
    offer_id: int | None = None,
    start: dt.datetime | dt.date | None = None,
    end: dt.datetime | dt.date | None = None,
    group_by: str | None = None,
    viewer: Viewer | None = None,
) -> dict[str, Any]:
    """The contract's stats document; a partner viewer's are its own, whatever `partner_id`."""
    if viewer is not None:
        partner_id = viewer.partner_filter(partner_id)
    since, until = period(start, end)
    totals, rows = click_figures(session, partner_id, offer_id, since, until, group_by)
    money_totals, money_rows = conversion_figures(
        session, partner_id, offer_id, since, until, group_by
    )
    _merge(totals, money_totals)
    for key, figures in money_rows.items():
        _merge(rows.setdefault(key, Figures()), figures)
    _targets(session, offer_id, rows, totals, group_by)
    ordered = sorted(rows.items(), key=lambda item: (item[0] is None, item[0] or ""))
    if group_by == "day":
        ordered.reverse()  # newest first, like every list
    return {
        "totals": totals.as_dict(),
        "rows": [{"key": key, **figures.as_dict()} for key, figures in ordered],
    }
