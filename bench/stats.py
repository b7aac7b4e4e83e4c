"""Stats at scale: `GET /api/v1/stats` on a database of 5 M clicks against one of 5 k.

Builds two databases of the same shape (partners, offers, links through the services; clicks
bulk-loaded in the rows `tracking.clicklog` writes, spread over a year; conversions with
mixed statuses and the ledger entries and payouts the services make for them), runs
`affiliates rollup` on each when the command exists (and times it), then times five stats
queries through the Flask test client with an admin key, alternating small and large over
rounds so a drifting machine weighs on both. Prints each query's median at the large size,
its ratio to the small one, and PASS when every ratio is <= 2 and every large query < 100 ms.

    python bench/stats.py [--database sqlite|postgresql|both] [--clicks 5000000]
                          [--small-clicks 5000] [--conversions N] [--rounds 7]
                          [--postgresql-url URL] [--cache-dir DIR | --no-cache]
                          [--redirect-rate CLICKS_PER_S] [--conversions-only]

Databases are cached (SQLite files under --cache-dir, PostgreSQL schemas `bench_<clicks>`
in the database of --postgresql-url, default $BENCH_POSTGRESQL_URL) and reused when the
same parameters ask again; --no-cache builds SQLite under a temp dir and rebuilds schemas.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from common import VENV_BIN
from sqlalchemy import create_engine, insert, text

from affiliates import create_app
from affiliates.database import sqlite_timestamp
from affiliates.extensions import db
from affiliates.models import Click, Conversion, LedgerEntry, Payout
from affiliates.services import api_keys, links, program
from affiliates.services import stats as stats_service
from tracking.clicklog import ClickRow

# Bump when the generated data changes, so a cached database of the old shape is rebuilt.
DATA_VERSION = 1
SEED = 11
PARTNERS = 200
OFFERS = 5
LINKS_PER_PARTNER = 10
RATIO_TARGET = 2.0
ZERO = Decimal("0.00")
MS_TARGET = 100.0
COLUMNS = [field.name for field in dataclasses.fields(ClickRow)]  # the click log's own shape
CHUNK = 100_000
BOT_AGENTS = ("Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5.0",
              "facebookexternalhit/1.1", "")  # fmt: skip
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
SOURCES = ("telegram", "vk", "youtube", "blog", "email", "yandex", "google")
MEDIUMS = ("cpc", "social", "email", "referral", "banner")
CAMPAIGNS = tuple(f"campaign-{n}" for n in range(40))
PLACEMENTS = tuple(f"placement-{n}" for n in range(25))
REFERERS = ("", "https://t.me/", "https://vk.com/", "https://www.youtube.com/", "https://ya.ru/")


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a database holds; its key names the cached copy."""

    clicks: int
    conversions: int

    @property
    def key(self) -> str:
        return f"bench_v{DATA_VERSION}_{self.clicks}_{self.conversions}"


@dataclasses.dataclass(frozen=True)
class LinkFacts:
    id: int
    partner_id: int
    offer_id: int
    utm: tuple[str | None, str | None, str | None]  # source, medium, campaign
    sub_id: str | None
    # an ad network's link: every click carries a sub_id of its own (a click id)
    network: bool


# building ------------------------------------------------------------------------------------


def app_for(url: str) -> Any:
    return create_app({"ENV": "production", "SECRET_KEY": "bench-secret", "DATABASE_URL": url})


def upgrade(url: str) -> None:
    env = {**os.environ, "AFFILIATES_ENV": "production", "SECRET_KEY": "bench-secret",
           "DATABASE_URL": url}  # fmt: skip
    subprocess.run([str(VENV_BIN / "affiliates"), "db", "upgrade"], env=env, check=True,
                   capture_output=True)  # fmt: skip


def make_program(url: str, rng: random.Random) -> list[LinkFacts]:
    """Offers, partners and their links, through the services as the admin makes them."""
    app = app_for(url)
    facts = []
    with app.app_context():
        offers = [program.create_offer(db.session, {"name": f"Bench offer {n}",
                                                    "destination_url": f"https://shop{n}.example.com/"})
                  for n in range(OFFERS)]  # fmt: skip
        for p in range(PARTNERS):
            partner = program.create_partner(db.session, f"Partner {p}", f"p{p}@example.com")
            for n in range(LINKS_PER_PARTNER):
                offer = offers[(p + n) % OFFERS]
                utm = (rng.choice(SOURCES), rng.choice(MEDIUMS),
                       rng.choice(CAMPAIGNS) if rng.random() < 0.7 else None)  # fmt: skip
                sub_id = rng.choice(PLACEMENTS) if rng.random() < 0.3 else None
                link = links.create_link(
                    db.session,
                    partner.id,
                    offer.id,
                    utm_source=utm[0],
                    utm_medium=utm[1],
                    utm_campaign=utm[2],
                    sub_id=sub_id,
                )
                facts.append(LinkFacts(link.id, partner.id, offer.id, utm, sub_id,
                                       network=n == 0 and p % 5 == 0))  # fmt: skip
        db.session.close()
    return facts


def link_weights(facts: list[LinkFacts]) -> list[float]:
    """Zipf-like traffic: partner 1 is the busiest, most partners are small."""
    cumulative, total = [], 0.0
    for link in facts:
        total += 1.0 / link.partner_id**0.9
        cumulative.append(total)
    return cumulative


def generate_clicks(spec: Spec, facts: list[LinkFacts], anchor: dt.datetime,
                    rng: random.Random) -> Any:  # fmt: skip
    """Chunks of click tuples (COLUMNS order) in time order over the year before `anchor`."""
    visitors = []
    for n in range(max(spec.clicks // 4, 50)):
        bot = rng.random() < 0.03
        agent = rng.choice(BOT_AGENTS if bot else AGENTS)
        key = hashlib.blake2b(f"v{n}".encode(), digest_size=16).hexdigest()
        ip = hashlib.blake2b(f"ip{n // 3}".encode(), digest_size=16).hexdigest()
        visitors.append((key, ip, agent, bot))
    weights = link_weights(facts)
    start = anchor - dt.timedelta(days=365)
    step = 365 * 86_400 / spec.clicks
    made = 0
    while made < spec.clicks:
        size = min(CHUNK, spec.clicks - made)
        chosen = rng.choices(facts, cum_weights=weights, k=size)
        rows = []
        for i, link in enumerate(chosen):
            n = made + i
            key, ip, agent, bot = visitors[int(rng.random() ** 2 * len(visitors))]
            source, medium, campaign = link.utm
            roll = rng.random()
            if roll < 0.2:
                campaign = rng.choice(CAMPAIGNS)
            if link.network:
                sub_id: str | None = f"{n:x}{rng.getrandbits(32):08x}"  # unique per click
            elif roll > 0.5:
                sub_id = rng.choice(PLACEMENTS)
            else:
                sub_id = link.sub_id
            params = json.dumps({"gclid": f"g{n}"}) if roll > 0.95 else None
            created = start + dt.timedelta(seconds=(n + rng.random()) * step)
            rows.append((
                f"{n:010x}{rng.getrandbits(48):012x}", link.id, link.partner_id, link.offer_id,
                created, ip, key, agent, rng.choice(REFERERS), source, medium, campaign, None,
                None, sub_id, params, bot, True,
            ))  # fmt: skip
        made += size
        yield rows


def load_clicks_sqlite(path: str, chunks: Any) -> None:
    """executemany of the click log's INSERT, one transaction per chunk."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a throwaway database: its build need not be durable
    sql = f"INSERT INTO clicks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608 - fixed names
    for rows in chunks:
        conn.execute("BEGIN")
        conn.executemany(sql, [(*r[:4], sqlite_timestamp(r[4]), *r[5:16], int(r[16]), int(r[17]))
                               for r in rows])  # fmt: skip
        conn.execute("COMMIT")
    conn.close()


def load_clicks_postgresql(engine: Any, chunks: Any) -> None:
    """COPY of the click log's columns, one transaction per chunk."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        for rows in chunks:
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY clicks ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):  # noqa: E501
                for row in rows:
                    copy.write_row(row)
            conn.commit()
    finally:
        raw.close()


def generate_money(spec: Spec, engine: Any, anchor: dt.datetime, rng: random.Random) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Conversions on sampled clicks (and some organic), their ledger entries and payouts,
    as the services leave them: a commission entry once approved, a reversal for what a
    refund or reversal took back, paid payouts claiming the older entries."""
    with engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM clicks WHERE is_bot = :no"), {"no": False})
        every = max(total // spec.conversions, 1)
        sampled = conn.execute(text(
            "SELECT id, partner_id, offer_id, created_at, utm_source, utm_campaign FROM"
            " (SELECT c.*, row_number() OVER (ORDER BY created_at) AS n FROM clicks c"
            " WHERE is_bot = :no) t WHERE n % :every = 0"
        ), {"no": False, "every": every}).all()  # fmt: skip
    conversions, entries = [], []
    hold = dt.timedelta(days=30)
    for n in range(spec.conversions):
        click = sampled[n % len(sampled)] if sampled else None
        organic = click is None or rng.random() < 0.05
        when = click[3] if click is not None else anchor - dt.timedelta(days=rng.random() * 365)
        if isinstance(when, str):  # SQLite's text timestamps, in UTC
            when = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
        when = when.astimezone(dt.UTC) + dt.timedelta(minutes=rng.randrange(1, 600))
        amount = Decimal(rng.randrange(50_000, 900_000)) / 100
        commission = (amount / 10).quantize(Decimal("0.01"))
        roll = rng.random()
        status = ("pending" if roll < 0.4 else "approved" if roll < 0.85
                  else "rejected" if roll < 0.95 else "reversed")  # fmt: skip
        if when > anchor - hold and status == "approved":
            status = "pending"  # still on hold
        refunded = Decimal(0)
        if status == "approved" and rng.random() < 0.05:
            refunded = (amount / 2).quantize(Decimal("0.01"))
        cid = n + 1
        partner = None if organic else click[1]  # type: ignore[index]
        conversions.append({
            "id": cid, "offer_id": click[2] if click is not None else 1, "type": "sale",
            "order_id": f"B-{cid}", "amount": amount, "refunded_amount": refunded,
            "currency": "RUB", "customer_key": f"{rng.getrandbits(64):016x}",
            "click_id": None if organic else click[0],  # type: ignore[index]
            "utm_source": None if organic else click[4],  # type: ignore[index]
            "utm_campaign": None if organic else click[5],  # type: ignore[index]
            "partner_id": partner, "attribution": None if organic else "click",
            "status": status, "commission": ZERO if partner is None else commission,
            "new_customer": rng.random() < 0.6, "source": "api", "occurred_at": when,
            "hold_until": when + hold, "created_at": when, "updated_at": when,
        })  # fmt: skip
        if partner is None or status in ("pending", "rejected"):
            continue
        entries.append({"partner_id": partner, "currency": "RUB", "amount": commission,
                        "kind": "commission", "conversion_id": cid, "created_at": when + hold,
                        "actor": "bench", "memo": f"commission on conversion {cid}"})  # fmt: skip
        taken = commission if status == "reversed" else (commission / 2 if refunded else 0)
        if taken:
            entries.append({"partner_id": partner, "currency": "RUB", "amount": -taken,
                            "kind": "reversal", "conversion_id": cid,
                            "created_at": when + hold + dt.timedelta(days=1), "actor": "bench",
                            "memo": f"conversion {cid} now {status}"})  # fmt: skip
    payouts, sums = [], {}
    paid_before = anchor - dt.timedelta(days=60)
    for entry in entries:
        if entry["created_at"] < paid_before:
            sums[entry["partner_id"]] = sums.get(entry["partner_id"], Decimal(0)) + entry["amount"]
    for partner, amount in sorted(sums.items()):
        if amount > 0:
            payouts.append({"id": len(payouts) + 1, "partner_id": partner, "currency": "RUB",
                            "amount": amount, "status": "paid", "method": "card",
                            "created_at": paid_before, "paid_at": paid_before})  # fmt: skip
    payout_of = {p["partner_id"]: p["id"] for p in payouts}
    for entry in entries:
        paid = entry["created_at"] < paid_before
        entry["payout_id"] = payout_of.get(entry["partner_id"]) if paid else None
    return conversions, entries, payouts


def load_money(engine: Any, conversions: list, entries: list, payouts: list) -> None:
    """Core executemany in big transactions (the ORM's defaults still apply)."""
    with engine.begin() as conn:
        if payouts:
            conn.execute(insert(Payout.__table__), payouts)
        for i in range(0, len(conversions), 20_000):
            conn.execute(insert(Conversion.__table__), conversions[i : i + 20_000])
        for i in range(0, len(entries), 20_000):
            conn.execute(insert(LedgerEntry.__table__), entries[i : i + 20_000])
        if engine.dialect.name == "postgresql":
            for table in ("payouts", "conversions"):
                restart = (
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - fixed names
                    f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
                conn.execute(text(restart))


def build(url: str, spec: Spec, anchor: dt.datetime) -> None:
    rng = random.Random(f"{SEED}-{spec.clicks}")  # noqa: S311 - synthetic data
    upgrade(url)
    facts = make_program(url, rng)
    engine = create_engine(url)
    indexes = list(Click.__table__.indexes)
    # the log's secondary indexes are built once after the load, not row by row
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    chunks = generate_clicks(spec, facts, anchor, rng)
    if engine.dialect.name == "sqlite":
        load_clicks_sqlite(engine.url.database, chunks)
    else:
        load_clicks_postgresql(engine, chunks)
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    load_money(engine, *generate_money(spec, engine, anchor, rng))
    # what autovacuum does to a loaded table in time: statistics, and on PostgreSQL the
    # visibility map index-only scans need
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"))
    engine.dispose()


def anchor_day() -> dt.datetime:
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today, dt.time(), dt.UTC)


def sqlite_database(spec: Spec, directory: Path, reuse: bool) -> tuple[str, dt.datetime, float]:
    path = directory / f"{spec.key}.db"
    marker = directory / f"{spec.key}.done"
    if reuse and path.exists() and marker.exists():
        upgrade(f"sqlite:///{path}")  # a migration added since the build (an index) applies
        return f"sqlite:///{path}", dt.datetime.fromisoformat(marker.read_text().strip()), 0.0
    for stale in directory.glob(f"{spec.key}.db*"):
        stale.unlink()
    marker.unlink(missing_ok=True)
    anchor = anchor_day()
    started = time.perf_counter()
    build(f"sqlite:///{path}", spec, anchor)
    marker.write_text(anchor.isoformat())
    return f"sqlite:///{path}", anchor, time.perf_counter() - started


def postgresql_database(spec: Spec, base_url: str, reuse: bool) -> tuple[str, dt.datetime, float]:
    """A schema of the database at `base_url`; its comment records a finished build."""
    url = base_url + ("&" if "?" in base_url else "?") + f"options=-csearch_path%3D{spec.key}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        comment = conn.scalar(text(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :n"
        ), {"n": spec.key})  # fmt: skip
        if reuse and comment and comment.startswith("built "):
            admin.dispose()
            upgrade(url)  # a migration added since the build (an index) applies
            return url, dt.datetime.fromisoformat(comment.removeprefix("built ")), 0.0
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{spec.key}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{spec.key}"'))
    anchor = anchor_day()
    started = time.perf_counter()
    build(url, spec, anchor)
    with admin.begin() as conn:
        conn.execute(text(f"COMMENT ON SCHEMA \"{spec.key}\" IS 'built {anchor.isoformat()}'"))
    admin.dispose()
    return url, anchor, time.perf_counter() - started


# measuring -----------------------------------------------------------------------------------


def rollup(url: str) -> float | None:
    """Seconds `affiliates rollup` took, or None when the command does not exist."""
    env = {**os.environ, "AFFILIATES_ENV": "production", "SECRET_KEY": "bench-secret",
           "DATABASE_URL": url}  # fmt: skip
    command = [str(VENV_BIN / "affiliates"), "rollup"]
    probe = subprocess.run([*command, "--help"], env=env, capture_output=True)
    if probe.returncode != 0:
        return None
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def queries(anchor: dt.datetime) -> dict[str, str]:
    last = anchor.date() - dt.timedelta(days=1)
    month, year = last - dt.timedelta(days=29), last - dt.timedelta(days=364)
    return {
        "program totals, all time": "",
        "group_by=day over a year": f"group_by=day&from={year}&to={last}",
        "group_by=link, all time": "group_by=link",
        "partner 1, last 30 days": f"partner_id=1&from={month}&to={last}",
        "partner 1, year by sub_id": f"partner_id=1&group_by=sub_id&from={year}&to={last}",
    }


class Target:
    """One built database, timed by a process of its own (the app's engine is per process),
    so both stay up and the rounds can alternate between them."""

    def __init__(self, url: str, anchor: dt.datetime) -> None:
        self.queries = queries(anchor)
        self.times: dict[str, list[float]] = {name: [] for name in self.queries}
        self.alone: dict[str, list[float]] = {name: [] for name in self.queries}
        self.proc = subprocess.Popen(  # noqa: S603 - our own script
            [sys.executable, __file__, "--serve", url], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stdin: IO[str] = self.proc.stdin  # type: ignore[assignment]  # PIPE: never None
        self.stdout: IO[str] = self.proc.stdout  # type: ignore[assignment]

    def time(self, name: str, alone: bool = False) -> None:
        """Time one query; `alone`: only its conversion figures, by the service itself."""
        self.stdin.write(("conversions " if alone else "api ") + self.queries[name] + "\n")
        self.stdin.flush()
        answer = self.stdout.readline().strip()
        if not answer.startswith("ms "):
            raise RuntimeError(f"{name}: {answer or 'the timing process died'}")
        (self.alone if alone else self.times)[name].append(float(answer.removeprefix("ms ")))

    def stop(self) -> None:
        self.stdin.close()
        self.proc.wait(timeout=30)


def serve(url: str) -> int:
    """The timing process: `api|conversions <query string>` a line in, `ms <elapsed>` out.

    `api` times the whole request; `conversions` only `stats.conversion_figures` for the
    same filters, the part that is not the click log's (issue 11, item 3)."""
    app = app_for(url)
    with app.app_context():
        key = api_keys.issue(db.session, "admin", "stats bench")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    for line in sys.stdin:
        what, _, query = line.rstrip("\n").partition(" ")
        if what == "conversions":
            args = dict(urllib.parse.parse_qsl(query))
            since, until = stats_service.period(
                dt.date.fromisoformat(args["from"]) if "from" in args else None,
                dt.date.fromisoformat(args["to"]) if "to" in args else None,
            )
            partner = int(args["partner_id"]) if "partner_id" in args else None
            with app.app_context():
                started = time.perf_counter()
                stats_service.conversion_figures(db.session, partner, None, since, until,
                                                 args.get("group_by"))  # fmt: skip
                elapsed = (time.perf_counter() - started) * 1000
            print(f"ms {elapsed:.3f}", flush=True)
            continue
        started = time.perf_counter()
        response = client.get(f"/api/v1/stats?{query}", headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            print(f"{response.status_code} {response.get_data(as_text=True)}", flush=True)
        else:
            print(f"ms {elapsed:.3f}", flush=True)
    return 0


def report(title: str, names: list[str], targets: list[Target], small: Spec, large: Spec,
           judged: bool, alone: bool = False) -> bool:  # fmt: skip
    """Print each query's medians and ratio; whether all are within the targets."""
    print(f"\n{title}, median of {len(targets[0].alone[names[0]])} rounds")
    print(f"{'query':28} {f'{small.clicks:,} ms':>12} {f'{large.clicks:,} ms':>14} {'ratio':>7}")
    ok = True
    for name in names:
        low, high = (statistics.median((t.alone if alone else t.times)[name]) for t in targets)
        ratio = high / low if low else float("inf")
        good = ratio <= RATIO_TARGET and high < MS_TARGET
        ok = ok and (good or not judged)
        verdict = ("ok" if good else "too slow") if judged else ""
        print(f"{name:28} {low:12.1f} {high:14.1f} {ratio:7.2f}  {verdict}")
    return ok


def bench(kind: str, args: argparse.Namespace, cache: Path) -> bool:
    small = Spec(args.small_clicks, max(args.small_clicks * args.conversions // args.clicks, 1))
    large = Spec(args.clicks, args.conversions)
    reuse = not args.no_cache
    targets, built = [], []
    for spec in (small, large):
        if kind == "sqlite":
            url, anchor, seconds = sqlite_database(spec, cache, reuse)
        else:
            url, anchor, seconds = postgresql_database(spec, args.postgresql_url, reuse)
        built.append((spec, url, seconds))
        targets.append(Target(url, anchor))
    print(f"\nStats benchmark, database {kind}")
    for spec, _url, seconds in built:
        how = f"built in {seconds:.1f} s" if seconds else "reused from the cache"
        print(f"  {spec.clicks:>10,} clicks, {spec.conversions:>8,} conversions: {how}")
    for spec, url, _seconds in built:
        seconds = rollup(url)
        if seconds is None:
            print("  affiliates rollup: no such command here; the figures read the raw log")
            break
        rate = spec.clicks / seconds if seconds else float("inf")
        beside = (
            f" (redirect bench: {args.redirect_rate:,.0f} clicks/s)" if args.redirect_rate else ""
        )
        print(f"  affiliates rollup over {spec.clicks:,} clicks: {seconds:.1f} s, "
              f"{rate:,.0f} clicks/s{beside}")  # fmt: skip
    names = list(targets[0].queries)
    whole = not args.conversions_only
    for round_ in range(args.rounds + 1):  # the first is a warm-up: caches, first imports
        for target in targets if round_ % 2 == 0 else targets[::-1]:
            for name in names:
                if whole:
                    target.time(name)
                target.time(name, alone=True)
        if round_ == 0:
            for target in targets:
                for name in names:
                    target.times[name].clear()
                    target.alone[name].clear()
    title = "the conversion figures (services.stats.conversion_figures)"
    ok = True
    if whole:
        ok = report("GET /api/v1/stats", names, targets, small, large, judged=True)
        title = f"of which {title}"
    ok = report(title, names, targets, small, large, judged=not whole, alone=True) and ok
    print(f"targets: ratio <= {RATIO_TARGET:.0f} and < {MS_TARGET:.0f} ms at "
          f"{large.clicks:,} clicks; {'PASS' if ok else 'FAIL'} on {kind}")  # fmt: skip
    for target in targets:
        target.stop()
    return ok


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        return serve(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--clicks", type=int, default=5_000_000, help="clicks of the large database"
    )
    parser.add_argument("--small-clicks", type=int, default=5_000)
    parser.add_argument(
        "--conversions",
        type=int,
        default=None,
        help="conversions of the large database (default: clicks / 50)",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgresql-url", default=os.environ.get("BENCH_POSTGRESQL_URL"),
                        help="the database the bench builds its schemas in")  # fmt: skip
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "affiliates-bench"))
    parser.add_argument("--no-cache", action="store_true", help="build afresh, in a temp dir")
    parser.add_argument("--conversions-only", action="store_true",
                        help="time and judge only the conversion figures (item 3)")  # fmt: skip
    parser.add_argument(
        "--redirect-rate",
        type=float,
        default=None,
        help="clicks/s of bench/redirect.py, printed beside the rollup's rate",
    )
    args = parser.parse_args()
    if args.conversions is None:
        args.conversions = max(args.clicks // 50, 1)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not args.postgresql_url:
        print("PostgreSQL needs --postgresql-url (or BENCH_POSTGRESQL_URL)", file=sys.stderr)
        return 2
    if args.postgresql_url:
        args.postgresql_url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://",
                                     args.postgresql_url)  # fmt: skip
    tmp = tempfile.mkdtemp(prefix="affiliates-bench-") if args.no_cache else None
    cache = Path(tmp or args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    try:
        results = [bench(kind, args, cache) for kind in kinds]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = all(results)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
