"""Pointing the project's Celery app at a test broker.

Celery keeps its connection and producer pools once made: after `broker_url` changes, a
task sent through them would still go to the broker they were made for (a queue no worker
of this test reads). A parallel run puts tests of several modules in one process in an
order of its own, so each switch forgets the pools first.
"""

from __future__ import annotations

from typing import Any


def forget_connections(app: Any) -> None:
    """Drop `app`'s cached connection and producer pools (made anew on the next send)."""
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
