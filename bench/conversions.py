"""Conversion intake: conversions/s through the API against a bare Flask JSON endpoint
under the same server in the same run, and the attribution engine's attributions/s.

    python bench/conversions.py [--duration 4] [--rounds 6] [--connections 16] [--workers N]
                                [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common
from common import VENV_BIN, Result, Server, free_port, gunicorn_argv, print_table, run_wrk

from affiliates.cli import default_workers

LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"offer_id": %d, "order_id": "B-%s-%d-%d", "amount": "1499.00", "utm_source": "%s",'
    .. ' "customer_id": "c-%d"}', OFFER, RUN, tid, counter, REF, counter % 5000)
  return wrk.format("POST", "/api/v1/conversions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. KEY}, body)
end
"""


def seed(env: dict[str, str]) -> tuple[int, str, str]:
    """One offer, partner and conversions key; returns the offer id, ref code and key."""
    offer_id, ref, key = common.seed(
        env, "    print(offer.id, partner.ref_code, api_keys.issue(db.session, 'conversions'))\n"
    ).split()
    return int(offer_id), ref, key


def write_script(directory: str, offer_id: int, ref: str, key: str, run: str) -> str:
    path = Path(directory) / "post.lua"
    header = f'OFFER = {offer_id}\nREF = "{ref}"\nKEY = "{key}"\nRUN = "{run}"\n'
    path.write_text(header + LUA)
    return str(path)


def engine_throughput(count: int = 100_000) -> float:
    """Attributions per second of the pure engine over synthetic conversions."""
    from affiliates import attribution as engine

    rng = random.Random(1)  # noqa: S311 - synthetic data
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    partners = [engine.PartnerFacts(i, f"p{i}@example.com", i % 10 != 0) for i in range(50)]
    terms = engine.OfferTerms()
    cases = []
    for _ in range(count):
        partner = rng.choice(partners)
        click = None
        if rng.random() < 0.7:
            click = engine.ClickTouch("c", partner, now - dt.timedelta(hours=rng.randrange(2000)),
                                      is_bot=rng.random() < 0.03)  # fmt: skip
        code = None
        if rng.random() < 0.3:
            code = engine.CodeTouch("X", rng.choice(partners), rng.random() < 0.9, "expired")
        ref = engine.RefTouch("r", rng.choice(partners)) if rng.random() < 0.1 else None
        customer = None
        if rng.random() < 0.2:
            customer = engine.CustomerTouch(rng.choice(partners), now - dt.timedelta(days=100))
        facts = engine.Facts(now, f"c{rng.randrange(1000)}@example.com", rng.random() < 0.01)
        cases.append((facts, engine.Touches(click, code, ref, customer)))
    started = time.perf_counter()
    for facts, touches in cases:
        engine.attribute(facts, touches, terms)
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds of each run")
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds of one run each, in ABBA order so drift cancels")  # fmt: skip
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None,
                        help="sync workers of both servers (default: as `affiliates serve` "
                             "chooses for the database)")  # fmt: skip
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="affiliates-bench-")
    database_url = args.database_url or f"sqlite:///{tmp}/bench.db"
    if args.workers is None:
        args.workers = default_workers(database_url)
    env = {**os.environ, "AFFILIATES_ENV": "production", "SECRET_KEY": "bench-secret",
           "DATABASE_URL": database_url}  # fmt: skip
    offer_id, ref, key = seed(env)
    json_header = ("Content-Type: application/json",)

    # Both servers stay up and the runs alternate (bare, intake, intake, bare, ...): a machine
    # whose speed drifts during the run (a shared VM) then weighs on both alike.
    bare_port, port = free_port(), free_port()
    bare = Server(gunicorn_argv("bare_json:app", bare_port, "sync", args.workers, 1),
                  dict(os.environ), f"http://127.0.0.1:{bare_port}/healthz")  # fmt: skip
    argv = [str(VENV_BIN / "affiliates"), "serve", "--port", str(port), "--workers",
            str(args.workers)]  # fmt: skip
    try:
        server = Server(argv, env, f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        bare.stop()
        raise
    urls = {"bare": f"http://127.0.0.1:{bare_port}/api/v1/conversions",
            "intake": f"http://127.0.0.1:{port}/api/v1/conversions"}  # fmt: skip
    names = {"bare": f"bare Flask JSON, sync x{args.workers}",
             "intake": f"affiliates intake, sync x{args.workers}"}  # fmt: skip
    runs: dict[str, list[Result]] = {"bare": [], "intake": []}
    try:
        for which in ("bare", "intake"):
            run_wrk("warm-up", urls[which], 2, args.connections, json_header,
                    write_script(tmp, offer_id, ref, key, f"warm-{which}"))  # fmt: skip
        for round_ in range(args.rounds):
            order = ("bare", "intake") if round_ % 2 == 0 else ("intake", "bare")
            for which in order:
                script = write_script(tmp, offer_id, ref, key, f"{which}-{round_}")
                runs[which].append(run_wrk(names[which], urls[which], args.duration,
                                           args.connections, json_header, script))  # fmt: skip
    finally:
        server.stop()
        bare.stop()

    kind = database_url.split(":")[0]
    print(f"\nConversion intake ({args.rounds} rounds of {args.duration}s each, "
          f"{args.connections} keep-alive connections, database {kind})")  # fmt: skip
    ratios = []
    for round_, (ceiling, result) in enumerate(zip(runs["bare"], runs["intake"], strict=True)):
        print(f"round {round_ + 1}")
        print_table([ceiling, result], ceiling)
        ratios.append(result.rps / ceiling.rps)
    ratio = statistics.median(ratios)
    failed = sum(result.non_2xx_3xx for result in runs["intake"])
    print(f"\nratio to the bare endpoint per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {ratio:.2f} (target >= 0.40); non-2xx answers: {failed}")  # fmt: skip
    rate = engine_throughput()
    print(f"attribution engine, in-process: {rate:,.0f} attributions/s over 100k conversions")
    shutil.rmtree(tmp, ignore_errors=True)
    ok = ratio >= 0.4 and failed == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
