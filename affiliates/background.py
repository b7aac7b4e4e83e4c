"""Work `affiliates serve` runs beside the workers, once per machine: the click aggregator.

gunicorn loads `affiliates.gunicorn_hooks`; its arbiter (one process, whatever the number of
workers) starts an `Aggregator` thread when it is ready. The thread has an engine of its own,
which the forked workers drop without touching (`forget_in_child`).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from affiliates.database import make_engine, utcnow
from affiliates.services import rollups

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between runs; the stats are live whatever it is (see services/stats)


class Aggregator:
    """Runs `rollups.roll_up` every `interval` seconds on a thread of its own."""

    def __init__(self, database_url: str, interval: float = INTERVAL) -> None:
        self.database_url = database_url
        self.interval = interval
        self._engine: Engine | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._engine = make_engine(self.database_url)
        self._thread = threading.Thread(target=self._run, name="click-aggregator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current run, and close its connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._engine is not None:
            self._engine.dispose()

    def forget_in_child(self) -> None:
        """In a forked worker: drop the parent's pooled connections without closing them."""
        if self._engine is not None:
            self._engine.dispose(close=False)

    def run_once(self) -> rollups.Run:
        """One run of the aggregator, committed."""
        assert self._engine is not None  # noqa: S101 - start() made it
        with Session(self._engine) as session:
            return rollups.roll_up(session, utcnow())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run = self.run_once()
            except Exception:
                # the database restarted or is busy: the clicks wait for the next run
                log.exception("the click aggregator's run failed; retrying in %ss", self.interval)
                continue
            if run.skipped:
                log.debug("another server's aggregator holds the lock")
