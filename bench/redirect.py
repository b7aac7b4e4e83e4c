"""Redirect throughput: `affiliates serve` against a bare Flask 302, in the same run.

Serves a bare Flask app that answers the same 302 from a dict under gunicorn's sync and
gthread workers (in each round the better is the ceiling) and the project under `affiliates
serve`, all at once, and drives them from loopback with wrk in alternating order over rounds
(every request on a new connection, `Connection: close`, since every click is a new visitor).
Prints requests/s and p50/p99 latency per round, the median ratios to the ceiling, and
whether clicks recorded equal 302s served.

    python bench/redirect.py [--duration 5] [--rounds 4] [--connections 50] [--workers N]
                             [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

import common
from common import VENV_BIN, Result, Server, free_port, gunicorn_argv, print_table, run_wrk

from affiliates.cli import default_workers

CLOSE = ("Connection: close",)


def seed(env: dict[str, str]) -> str:
    """One offer, partner and link; returns the link's code."""
    return common.seed(env, "    print(links.create_link(db.session, partner.id, offer.id).code)\n")


def count_clicks(database_url: str) -> int:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute("SELECT count(*) FROM clicks").fetchone()[0]
    import psycopg

    url = re.sub(r"^postgresql\+psycopg://", "postgresql://", database_url)
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM clicks").fetchone()[0]  # type: ignore[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of each run")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds of one run of each server, in alternating order")  # fmt: skip
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None,
                        help="sync workers of both servers (default: as `affiliates serve` "
                             "chooses for the database)")  # fmt: skip
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
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
    code = seed(env)

    # All three servers stay up and their runs alternate over rounds, so a machine whose
    # speed drifts during the run (a shared VM) weighs on all of them alike.
    specs = {
        "sync": ("bare_app:app", "sync", args.workers, 1),
        "gthread": ("bare_app:app", "gthread", max(2, os.cpu_count() or 1), 8),
    }
    servers: list[Server] = []
    urls, names = {}, {}
    try:
        for key, (app, worker_class, workers, threads) in specs.items():
            port = free_port()
            urls[key] = f"http://127.0.0.1:{port}/r/bench001"
            names[key] = f"bare Flask, {worker_class} x{workers}"
            servers.append(Server(gunicorn_argv(app, port, worker_class, workers, threads),
                                  dict(os.environ), urls[key]))  # fmt: skip
        port = free_port()
        argv = [str(VENV_BIN / "affiliates"), "serve", "--port", str(port), "--workers",
                str(args.workers), "--worker-class", args.worker_class]  # fmt: skip
        servers.append(Server(argv, env, f"http://127.0.0.1:{port}/healthz"))
        urls["serve"] = f"http://127.0.0.1:{port}/r/{code}"
        names["serve"] = f"affiliates serve, {args.worker_class} x{args.workers}"
        for key in urls:
            run_wrk("warm-up", urls[key], 2, args.connections, CLOSE)
        runs: dict[str, list[Result]] = {key: [] for key in urls}
        served = recorded = 0
        order = list(urls)
        for round_ in range(args.rounds):
            for key in order if round_ % 2 == 0 else order[::-1]:
                before = count_clicks(database_url) if key == "serve" else 0
                result = run_wrk(names[key], urls[key], args.duration, args.connections, CLOSE)
                runs[key].append(result)
                if key == "serve":
                    time.sleep(0.5)  # let requests in flight when wrk stopped finish
                    recorded += count_clicks(database_url) - before
                    served += result.requests - result.non_2xx_3xx
    finally:
        for server in servers:
            server.stop()

    print(f"\nRedirect benchmark ({args.rounds} rounds of {args.duration}s each, "
          f"{args.connections} connections, Connection: close, "
          f"database {database_url.split(':')[0]})")  # fmt: skip
    ratios, p99_ratios = [], []
    for round_ in range(args.rounds):
        bare_runs = [runs["sync"][round_], runs["gthread"][round_]]
        ceiling = max(bare_runs, key=lambda r: r.rps)
        result = runs["serve"][round_]
        print(f"round {round_ + 1} (ceiling: {ceiling.name})")
        print_table([*bare_runs, result], ceiling)
        ratios.append(result.rps / ceiling.rps)
        p99_ratios.append(result.p99_ms / ceiling.p99_ms)
    ratio, p99_ratio = statistics.median(ratios), statistics.median(p99_ratios)
    failed = sum(result.non_2xx_3xx for result in runs["serve"])
    lost = served - recorded
    print(f"\nratio to ceiling per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {ratio:.2f} (target >= 0.60)")  # fmt: skip
    print(f"p99 vs ceiling p99 per round: {', '.join(f'{r:.2f}x' for r in p99_ratios)}; "
          f"median {p99_ratio:.2f}x (target <= 2.0)")  # fmt: skip
    print(f"302s served (wrk): {served}; clicks recorded: {recorded}; "
          f"served without a click: {max(lost, 0)}; non-3xx: {failed}")  # fmt: skip
    ok = ratio >= 0.6 and p99_ratio <= 2.0 and lost <= 0 and failed == 0
    print("PASS" if ok else "FAIL")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
