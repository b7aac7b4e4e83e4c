"""gunicorn's server hooks for `affiliates serve` (`-c python:affiliates.gunicorn_hooks`).

The arbiter runs the click aggregator (one per machine, not one per worker); several machines'
aggregators take turns through the database's lock.
"""

from __future__ import annotations

from typing import Any

from affiliates import config as _config
from affiliates.background import Aggregator

_aggregator: Aggregator | None = None


def when_ready(server: Any) -> None:
    """In the arbiter, before the workers are forked: start the aggregator."""
    global _aggregator
    # the configuration only: an app (and its engine) in the arbiter would be forked
    _aggregator = Aggregator(str(_config.load()["DATABASE_URL"]))
    _aggregator.start()
    server.log.info("Rolling up clicks every %.0f s.", _aggregator.interval)


def post_fork(server: Any, worker: Any) -> None:
    """In each worker: leave the arbiter's aggregator and its connections alone."""
    if _aggregator is not None:
        _aggregator.forget_in_child()


def on_exit(server: Any) -> None:
    """When the arbiter stops: finish the aggregator's run."""
    if _aggregator is not None:
        _aggregator.stop()
