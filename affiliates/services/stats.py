"""Program statistics: clicks, unique and bot clicks, and the conversion figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    outerjoin,
    select,
)
from sqlalchemy.orm import Session

from affiliates.models import Click, ClickRollup, Conversion, LedgerEntry, Offer, Payout, PromoCode
from affiliates.money import CENT, ZERO
from affiliates.services import rollups
from affiliates.services.viewer import Viewer

UNIQUE_WINDOW = rollups.UNIQUE_WINDOW
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


def _ceil_hour(at: dt.datetime) -> dt.datetime:
    floor = rollups.hour_of(at)
    return floor if floor == at else floor + dt.timedelta(hours=1)


def _sql_key(session: Session, model: Any, time_column: Any, group_by: str | None) -> Any:
    if group_by == "day":
        return _day(session, time_column)
    if group_by == "link":
        return cast(model.link_id, String)
    if group_by in ("utm_campaign", "sub_id"):
        return getattr(model, group_by)
    if group_by in ("partner", "offer"):
        return cast(getattr(model, f"{group_by}_id"), String)
    return literal(None, String)


def _python_key(click: rollups.RawClick, group_by: str | None) -> str | None:
    if group_by == "day":
        return click.created_at.astimezone(dt.UTC).date().isoformat()
    if group_by in ("link", "partner", "offer"):
        return str(getattr(click, f"{group_by}_id"))
    if group_by in ("utm_campaign", "sub_id"):
        return getattr(click, group_by)
    return None


def _filters(model: Any, partner_id: int | None, offer_id: int | None) -> list[Any]:
    conditions = []
    if partner_id is not None:
        conditions.append(model.partner_id == partner_id)
    if offer_id is not None:
        conditions.append(model.offer_id == offer_id)
    return conditions


def _between(column: Any, start: dt.datetime | None, end: dt.datetime | None) -> Any:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return and_(True, *conditions)


_ATTEMPTS = 20


def _marked_since(session: Session, ids: list[str]) -> bool:
    """Whether any of these clicks (read as not rolled up) has been rolled up since."""
    for chunk in range(0, len(ids), 400):
        marked = select(Click.id).where(
            Click.id.in_(ids[chunk : chunk + 400]), Click.unique_click.is_not(None)
        )
        if session.execute(marked.limit(1)).first() is not None:
            return True
    return False


def _rolled_up(session: Session, partner_id: int | None, offer_id: int | None,
               start: dt.datetime | None, end: dt.datetime | None,
               group_by: str | None) -> list[Any]:  # fmt: skip
    """(key, clicks, unique, bots) of the rolled-up clicks: whole hours from the rollups,
    the part-hours at the period's edges from the clicks' own marks."""
    counted: list[Any] = []
    # [first, last): the whole hours inside the period; None where it is open
    first = _ceil_hour(start) if start is not None else None
    last = rollups.hour_of(end) if end is not None else None
    if first is not None and last is not None and first >= last:
        edges = [(start, end)]
        whole = False
    else:
        edges = [(start, first), (last, end)]
        whole = True
    if whole:
        key = _sql_key(session, ClickRollup, ClickRollup.hour, group_by)
        stmt = (
            select(
                key,
                func.sum(ClickRollup.clicks),
                func.sum(ClickRollup.unique_clicks),
                func.sum(ClickRollup.bot_clicks),
            )
            .where(*_filters(ClickRollup, partner_id, offer_id),
                   _between(ClickRollup.hour, first, last))
            .group_by(key)
        )  # fmt: skip
        counted.extend(session.execute(stmt).all())
    human = case((Click.is_bot.is_(False), 1), else_=0)
    for edge_start, edge_end in edges:
        if edge_start is None or edge_end is None or edge_start >= edge_end:
            continue
        key = _sql_key(session, Click, Click.created_at, group_by)
        stmt = (
            select(
                key,
                func.sum(human),
                func.sum(case((Click.unique_click.is_(True), 1), else_=0)),
                func.sum(cast(Click.is_bot, Integer)),
            )
            .where(
                Click.unique_click.is_not(None),
                *_filters(Click, partner_id, offer_id),
                _between(Click.created_at, edge_start, edge_end),
            )
            .group_by(key)
        )
        counted.extend(session.execute(stmt).all())
    return counted


def click_figures(
    session: Session,
    partner_id: int | None,
    offer_id: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    group_by: str | None,
) -> tuple[Figures, dict[str | None, Figures]]:
    """Totals and per-group click figures for the filters.

    Whole hours of the period come from the rollups; the part-hours at its edges from the
    rolled-up clicks themselves (their uniqueness is kept on them); and the clicks not yet
    rolled up (the tail) are judged here by the aggregator's own rule.
    """
    for _attempt in range(_ATTEMPTS):
        tail = [
            rollups.RawClick(*row)
            for row in session.execute(
                select(*rollups.RAW_COLUMNS).where(
                    Click.unique_click.is_(None),
                    *_filters(Click, partner_id, offer_id),
                    _between(Click.created_at, start, end),
                )
            )
        ]
        verdicts = rollups.decide_uniqueness(session, tail)
        counted = _rolled_up(session, partner_id, offer_id, start, end, group_by)
        # Each statement sees the commits before it: a batch the aggregator committed since
        # the tail was read would be counted twice, so read again (rare, and cheap).
        if not _marked_since(session, [click.id for click in tail]):
            break
    else:
        raise RuntimeError("the aggregator kept committing under the stats")  # pragma: no cover
    for click in tail:
        counted.append(
            (
                _python_key(click, group_by),
                0 if click.is_bot else 1,
                int(verdicts[click.id]),
                int(click.is_bot),
            )
        )
    totals = Figures()
    rows: dict[str | None, Figures] = {}
    for key, clicks, uniques, bots in counted:
        if group_by is None or group_by == "promo_code":
            key = None
        figures = rows.setdefault(key, Figures())
        for into in (figures, totals):
            into.clicks += int(clicks or 0)
            into.unique_clicks += int(uniques or 0)
            into.bot_clicks += int(bots or 0)
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
