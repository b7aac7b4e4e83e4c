"""The click rollups: counts by link, UTC hour and the stats' dimensions, kept by an
incremental aggregator.

A click is rolled up once: the aggregator takes clicks whose `unique_click` is NULL, decides
their uniqueness (no human click of the same visitor on the link in the 24 h before), adds
them to `click_rollups` and marks them, in one transaction per batch. The set of marked clicks
is the watermark: click ids are random and several servers commit clicks concurrently, so no
id or timestamp could say "everything before this is counted" without skipping a click whose
transaction commits late. Stats read the rollups plus the clicks still unmarked (the tail).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from affiliates.database import WriterQueue
from affiliates.models import Click, ClickRollup

UNIQUE_WINDOW = dt.timedelta(hours=24)
DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign", "sub_id")
# Distinct dimension combinations kept per (link, hour); the clicks of any further one are
# counted in one row whose dimensions are all OTHER. Why 100: see the README ("Rollups").
CAP = 100
OTHER = "(other)"
BATCH = 2000
# Clicks younger than this stay in the tail: a click's transaction on another server may
# still commit with an earlier timestamp, and a click's uniqueness depends on the earlier ones.
SETTLE = dt.timedelta(seconds=5)
# pg_try_advisory_xact_lock's key: one aggregator at a time across every server
LOCK_KEY = 0x6166_726F_6C6C  # "afroll"
# values per IN list: on PostgreSQL each statement costs a round trip and a plan, so few and
# large; SQLite before 3.32 takes at most 999 bound parameters a statement
_CHUNK = {"postgresql": 2000, "sqlite": 400}


@dataclass(frozen=True)
class RawClick:
    """A click as the rollups see it."""

    id: str
    link_id: int
    partner_id: int
    offer_id: int
    visitor_key: str
    created_at: dt.datetime
    is_bot: bool
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    sub_id: str | None

    @property
    def dims(self) -> tuple[str | None, ...]:
        return (self.utm_source, self.utm_medium, self.utm_campaign, self.sub_id)


RAW_COLUMNS = (
    Click.id, Click.link_id, Click.partner_id, Click.offer_id, Click.visitor_key,
    Click.created_at, Click.is_bot, Click.utm_source, Click.utm_medium, Click.utm_campaign,
    Click.sub_id,
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    """What one `roll_up` did: clicks rolled up, and whether another aggregator held the lock."""

    rolled_up: int
    skipped: bool = False


def hour_of(at: dt.datetime) -> dt.datetime:
    """The UTC hour a moment falls in."""
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def dims_key(dims: Sequence[str | None]) -> str:
    """The rollup row's key for a combination of dimension values (NULLs told apart)."""
    return hashlib.sha256(json.dumps(list(dims)).encode()).hexdigest()


OTHER_DIMS: tuple[str, ...] = (OTHER,) * len(DIMENSIONS)
OTHER_KEY = dims_key(OTHER_DIMS)


def _chunks(session: Session, items: Sequence[Any], per_item: int = 1) -> Iterable[Sequence[Any]]:
    size = _CHUNK.get(session.get_bind().dialect.name, 400) // per_item
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decide_uniqueness(session: Session, clicks: Sequence[RawClick]) -> dict[str, bool]:
    """Whether each click is unique: a human click with no human click of the same visitor
    on the same link in the 24 h before it (at the same instant, the lower id comes first).

    Each (link, visitor) is read in two parts through the index on (link_id, visitor_key,
    created_at), rolled up or not: its clicks within the batch's own span, and the one latest
    click before it (a seek, however often the visitor came: a bot behind one address may
    click all day).
    """
    verdicts = {click.id: False for click in clicks}
    humans = [click for click in clicks if not click.is_bot]
    if not humans:
        return verdicts
    earliest = min(click.created_at for click in humans)
    latest = max(click.created_at for click in humans)
    history: dict[tuple[int, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
    pairs = sorted({(click.link_id, click.visitor_key) for click in humans})
    for chunk in _chunks(session, pairs, per_item=2):
        within = session.execute(
            select(Click.link_id, Click.visitor_key, Click.created_at, Click.id).where(
                tuple_(Click.link_id, Click.visitor_key).in_(chunk),
                Click.is_bot.is_(False),
                Click.created_at >= earliest,
                Click.created_at <= latest,
            )
        )
        for link_id, visitor_key, created_at, click_id in within:
            history[(link_id, visitor_key)].append((created_at, click_id))
    earlier = aliased(Click)
    for ids in _chunks(session, [click.id for click in humans]):
        visitors = (
            select(Click.link_id, Click.visitor_key).where(Click.id.in_(ids)).distinct().subquery()
        )
        before = (
            select(earlier.created_at)
            .where(
                earlier.link_id == visitors.c.link_id,
                earlier.visitor_key == visitors.c.visitor_key,
                earlier.is_bot.is_(False),
                earlier.created_at < earliest,
                earlier.created_at > earliest - UNIQUE_WINDOW,
            )
            .order_by(earlier.created_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        found = session.execute(select(visitors.c.link_id, visitors.c.visitor_key, before))
        for link_id, visitor_key, created_at in found:
            if created_at is not None:
                history[(link_id, visitor_key)].append((created_at, ""))
    for times in history.values():
        times.sort()
    for click in humans:
        times = history[(click.link_id, click.visitor_key)]
        position = bisect.bisect_left(times, (click.created_at, click.id))
        previous = times[position - 1][0] if position > 0 else None
        verdicts[click.id] = previous is None or click.created_at - previous >= UNIQUE_WINDOW
    return verdicts


def roll_up(session: Session, now: dt.datetime, batch: int = BATCH,
            settle: dt.timedelta = SETTLE) -> Run:  # fmt: skip
    """Roll up every click older than `settle`, one committed transaction per batch.

    On PostgreSQL a second aggregator finds the advisory lock taken and skips (`skipped`); on
    SQLite the writer's lock serialises the batches, and one that finds its clicks marked by
    another aggregator meanwhile is rolled back and skipped too.
    """
    total = 0
    while True:
        try:
            done = _roll_up_batch(session, now - settle, batch)
        except BaseException:
            session.rollback()
            raise
        if done is None:
            session.rollback()
            return Run(total, skipped=True)
        total += done
        if done < batch:
            return Run(total)


class _Raced(Exception):
    """Some clicks of the batch were marked by someone else meanwhile."""


# the click log's queue (tracking/clicklog.py): the redirector's writers and the aggregator's
# take SQLite's writer lock in turn, woken by the kernel rather than by SQLite's polling
_CLICK_WRITERS = WriterQueue("-clicklock")


def _roll_up_batch(session: Session, cutoff: dt.datetime, batch: int) -> int | None:
    """Roll up and commit one batch; None if another aggregator holds the lock."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql and not session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))):
        return None
    # On SQLite these reads take no lock: the writer's lock is held only while writing, below.
    rows = session.execute(
        select(*RAW_COLUMNS)
        .where(Click.unique_click.is_(None), Click.created_at < cutoff)
        .order_by(Click.created_at)
        .limit(batch)
    ).all()
    if not rows:
        session.commit()
        return 0
    clicks = [RawClick(*row) for row in rows]
    verdicts = decide_uniqueness(session, clicks)
    with _CLICK_WRITERS.turn(session.connection()):
        try:
            _mark(session, verdicts)
        except _Raced:
            session.rollback()  # before the turn ends, so the lock is free for the next
            return None
        _add(session, clicks, verdicts)
        session.commit()
    return len(clicks)


def _mark(session: Session, verdicts: dict[str, bool]) -> None:
    marked = 0
    for value in (True, False):
        ids = [click_id for click_id, unique in verdicts.items() if unique is value]
        for chunk in _chunks(session, ids):
            # guarded on NULL: a click another aggregator marked meanwhile is not counted twice
            result = session.execute(
                update(Click)
                .where(Click.id.in_(chunk), Click.unique_click.is_(None))
                .values(unique_click=value)
                .execution_options(synchronize_session=False)
            )
            marked += result.rowcount  # type: ignore[attr-defined]
    if marked != len(verdicts):
        raise _Raced


def _add(session: Session, clicks: Sequence[RawClick], verdicts: dict[str, bool]) -> None:
    """Add the clicks to their rollup rows, capping the combinations per (link, hour)."""
    slots = sorted({(click.link_id, hour_of(click.created_at)) for click in clicks})
    kept: dict[tuple[int, dt.datetime], set[str]] = defaultdict(set)
    for chunk in _chunks(session, slots, per_item=2):
        found = session.execute(
            select(ClickRollup.link_id, ClickRollup.hour, ClickRollup.dims_key).where(
                tuple_(ClickRollup.link_id, ClickRollup.hour).in_(chunk)
            )
        )
        for link_id, hour, key in found:
            kept[(link_id, hour)].add(key)
    rows: dict[tuple[int, dt.datetime, str], dict[str, Any]] = {}
    for click in clicks:  # in created_at order: the first combinations of an hour are kept
        slot = (click.link_id, hour_of(click.created_at))
        dims: Sequence[str | None] = click.dims
        key = dims_key(dims)
        known = kept[slot]
        if key not in known:
            if len(known - {OTHER_KEY}) < CAP:
                known.add(key)
            else:
                dims, key = OTHER_DIMS, OTHER_KEY
                known.add(key)
        row = rows.get((*slot, key))
        if row is None:
            row = rows[(*slot, key)] = {
                "link_id": click.link_id, "partner_id": click.partner_id,
                "offer_id": click.offer_id, "hour": slot[1], "dims_key": key,
                **dict(zip(DIMENSIONS, dims, strict=True)),
                "clicks": 0, "unique_clicks": 0, "bot_clicks": 0,
            }  # fmt: skip
        if click.is_bot:
            row["bot_clicks"] += 1
        else:
            row["clicks"] += 1
            row["unique_clicks"] += int(verdicts[click.id])
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ClickRollup)
    table = ClickRollup.__table__.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["link_id", "hour", "dims_key"],
        set_={
            name: table[name] + stmt.excluded[name]
            for name in ("clicks", "unique_clicks", "bot_clicks")
        },
    )
    session.execute(stmt, list(rows.values()))
