"""Redirect throughput: `affiliates serve` against a bare Flask 302, in the same run.

Serves a bare Flask app that answers the same 302 from a dict under gunicorn's sync and
gthread workers (the better is the ceiling), then the project under `affiliates serve`, drives
each from loopback with wrk (every request on a new connection, `Connection: close`, since
every click is a new visitor) and prints requests/s, p50/p99 latency, the ratio to the
ceiling, and whether clicks recorded equal 302s served.

    python bench/redirect.py [--duration 10] [--connections 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time

import common
from common import VENV_BIN, Result, Server, free_port, gunicorn_argv, print_table, run_wrk

from affiliates.cli import default_workers

CLOSE = ("Connection: close",)


def bare(worker_class: str, workers: int, threads: int, args: argparse.Namespace) -> Result:
    port = free_port()
    argv = gunicorn_argv("bare_app:app", port, worker_class, workers, threads)
    url = f"http://127.0.0.1:{port}/r/bench001"
    server = Server(argv, dict(os.environ), url)
    try:
        run_wrk("warm-up", url, 2, args.connections, CLOSE)
        return run_wrk(f"bare Flask, {worker_class} x{workers}", url, args.duration,
                       args.connections, CLOSE)  # fmt: skip
    finally:
        server.stop()


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


def tracked(args: argparse.Namespace, env: dict[str, str], code: str) -> tuple[Result, int]:
    port = free_port()
    argv = [str(VENV_BIN / "affiliates"), "serve", "--port", str(port), "--workers",
            str(args.workers), "--worker-class", args.worker_class]  # fmt: skip
    url = f"http://127.0.0.1:{port}/r/{code}"
    server = Server(argv, env, f"http://127.0.0.1:{port}/healthz")
    try:
        run_wrk("warm-up", url, 2, args.connections, CLOSE)
        before = count_clicks(env["DATABASE_URL"])
        result = run_wrk(f"affiliates serve, {args.worker_class} x{args.workers}", url,
                         args.duration, args.connections, CLOSE)  # fmt: skip
        time.sleep(0.5)  # let requests in flight when wrk stopped finish
        recorded = count_clicks(env["DATABASE_URL"]) - before
        return result, recorded
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
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
    ceiling_runs = [
        bare("sync", args.workers, 1, args),
        bare("gthread", max(2, os.cpu_count() or 1), 8, args),
    ]
    ceiling = max(ceiling_runs, key=lambda r: r.rps)
    result, recorded = tracked(args, env, code)
    served = result.requests - result.non_2xx_3xx
    print(f"\nRedirect benchmark ({args.duration}s each, {args.connections} connections, "
          f"Connection: close, database {database_url.split(':')[0]})")  # fmt: skip
    print_table([*ceiling_runs, result], ceiling)
    ratio = result.rps / ceiling.rps
    p99_ratio = result.p99_ms / ceiling.p99_ms
    lost = served - recorded
    print(f"\nceiling: {ceiling.name}")
    print(f"ratio to ceiling: {ratio:.2f} (target >= 0.60); p99 vs ceiling p99: {p99_ratio:.2f}x "
          f"(target <= 2.0)")  # fmt: skip
    print(f"302s served (wrk): {served}; clicks recorded: {recorded}; "
          f"served without a click: {max(lost, 0)}; non-3xx: {result.non_2xx_3xx}")  # fmt: skip
    ok = ratio >= 0.6 and p99_ratio <= 2.0 and lost <= 0 and result.non_2xx_3xx == 0
    print("PASS" if ok else "FAIL")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
