"""The click guarantees, against the real server: gunicorn workers on the suite's database.

Each test is bounded: the server gets 12 s to start, the load 10 s (requests not started by
then are skipped and fail the test), and the server is stopped whatever happens.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from affiliates.extensions import db
from affiliates.models import Click
from tests.factories import LinkFactory

ROOT = Path(__file__).resolve().parents[2]
AFFILIATES = Path(sys.executable).parent / "affiliates"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
REQUESTS = 300
THREADS = 20


class _NoRedirects(urllib.request.HTTPErrorProcessor):
    """Hand every response back as it is: no redirect followed, no error raised."""

    def http_response(self, request, response):  # type: ignore[no-untyped-def]
        return response


_opener = urllib.request.build_opener(_NoRedirects)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workers(master: int) -> list[int]:
    """The gunicorn workers: processes whose parent is the master."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(entry.name))
    return pids


@contextmanager
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`affiliates serve` with three workers on the suite's database, stopped afterwards."""
    port = _free_port()
    env = {**os.environ, "AFFILIATES_ENV": "development", "DATABASE_URL": database_url}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(AFFILIATES), "serve", "--port", str(port), "--workers", "3"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 12
            while True:
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                try:
                    with _opener.open(f"{base}/healthz", timeout=2) as response:
                        if response.status == 200 and len(_workers(process.pid)) == 3:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the server did not start in 12 s"
                time.sleep(0.1)
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Outcome:
    redirects: list[str] = field(default_factory=list)  # aff_click_id of each 302 received
    other: list[int] = field(default_factory=list)
    failures: int = 0
    skipped: int = 0
    done: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + 10)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _hit(url: str, outcome: Outcome) -> None:
    if time.monotonic() > outcome.deadline:
        with outcome.lock:
            outcome.skipped += 1
            outcome.done += 1
        return
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER})  # noqa: S310 - http only
    try:
        with _opener.open(request, timeout=5) as response:
            status, location = response.status, response.headers.get("Location", "")
            response.read()
    except (OSError, http.client.HTTPException):  # reset, refused, cut off mid-answer
        with outcome.lock:
            outcome.failures += 1
            outcome.done += 1
        return
    with outcome.lock:
        if status == 302:
            outcome.redirects.append(parse_qs(urlsplit(location).query)["aff_click_id"][0])
        else:
            outcome.other.append(status)
        outcome.done += 1


def _clicks(link_id: int) -> set[str]:
    with db.engine.connect() as conn:  # a fresh snapshot, whatever the session holds
        return set(conn.scalars(select(Click.id).where(Click.link_id == link_id)))


def _count(link_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Click).where(Click.link_id == link_id))


def test_clicks_recorded_equal_redirects_served_under_concurrent_load(database_url, tmp_path):
    link = LinkFactory()  # committed before the server starts
    with server(database_url, tmp_path) as (base, _process):
        outcome = Outcome()
        with ThreadPoolExecutor(THREADS) as pool:
            url = f"{base}/r/{link.code}?sub_id=load"
            futures = [pool.submit(_hit, url, outcome) for _ in range(REQUESTS)]
        for future in futures:
            future.result()  # a mistake in the client surfaces here
    assert (outcome.failures, outcome.skipped, outcome.other) == (0, 0, [])
    assert len(outcome.redirects) == REQUESTS
    assert len(set(outcome.redirects)) == REQUESTS
    assert _count(link.id) == REQUESTS
    assert _clicks(link.id) == set(outcome.redirects)


def test_a_killed_worker_loses_no_click(database_url, tmp_path):
    link = LinkFactory()
    with server(database_url, tmp_path) as (base, process):
        victim = _workers(process.pid)[0]
        outcome = Outcome()
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(_hit, f"{base}/r/{link.code}", outcome) for _ in range(REQUESTS)]
            deadline = time.monotonic() + 5
            while outcome.done < REQUESTS // 5 and time.monotonic() < deadline:
                time.sleep(0.001)
            os.kill(victim, signal.SIGKILL)  # mid-load: requests are queued and in flight
            killed_at = outcome.done
        for future in futures:
            future.result()
        assert killed_at < REQUESTS, "the load ended before the worker was killed"
        assert victim not in _workers(process.pid)
    recorded = _clicks(link.id)
    assert outcome.skipped == 0 and outcome.other == []
    assert outcome.redirects, "no redirect was served at all"
    # every 302 a visitor received has its click in the database ...
    assert set(outcome.redirects) <= recorded
    # ... and the only clicks without a 302 belong to requests cut off with the worker
    assert len(outcome.redirects) <= len(recorded) <= len(outcome.redirects) + outcome.failures
