"""The Celery broker (Redis) restarted while webhooks are being delivered: nothing is lost
and nothing is sent twice under another id.

The delivery path keeps no state in Redis: what was delivered is the subscription's
checkpoint and the formed messages in PostgreSQL; Redis only carries the `streams.deliver`
kicks (the beat's every 2 s, the indexer's after new facts). So a kick lost with the broker
only delays delivery until the next one. The test runs a real Celery worker (threads)
against a PRIVATE redis-server on a free port (never the machine's Redis), kicks it the
way the beat does, kills Redis with SIGKILL mid-stream (its queue is lost: no
persistence), starts it again on the same port, and checks that a receiver built on the
`standardwebhooks` package took every fact once, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.celery_app import forget_connections
from tests.redis_server import REDIS_SERVER, RedisServer
from tests.webapp.streams_world import Receiver, Store, lot_registered, organisation
from webapp.streams.services import Start, subscription_create

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None, reason="the redis-server binary is not installed"),
]
WAIT_S = 60.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def worker(redis_server: RedisServer, settings: Any) -> Iterator[Any]:
    """A Celery worker (two threads) on the private Redis."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery import app

    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.STREAMS_READ_TIMEOUT_S = 5
    previous = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = redis_server.url
    app.conf.broker_transport_options = {}
    app.conf.broker_connection_retry = True
    app.conf.broker_connection_max_retries = None
    forget_connections(app)
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False) as running:
            yield running
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = previous
        app.pool.force_close_all()
        forget_connections(app)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


class Beat:
    """Queues `streams.deliver` every `interval` seconds, as the beat does; a refused send
    (the broker down) is counted and the next tick tries again."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.sent = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from workers.tasks import streams_deliver

        while not self._stop.is_set():
            try:
                streams_deliver.apply_async(retry=False)
                self.sent += 1
            except Exception:
                self.refused += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)


def wait_for(done: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.05)


def test_webhooks_keep_flowing_across_a_redis_restart(
    redis_server: RedisServer, worker: Any, receiver: Receiver
) -> None:
    alpha = organisation("alpha", 0xA1)
    store = Store()
    created = subscription_create(
        organisation=alpha,
        name="erp",
        url=receiver.url,
        start=Start("oldest"),
        filters={},
        options={},
    )
    receiver.secrets.append(created.secret)
    facts = []
    with Beat() as beat:
        facts += [store.add("LotRegistered", lot_registered(alpha, lot)) for lot in range(1, 21)]
        wait_for(lambda: len(receiver.accepted) >= 5, "the first deliveries")

        redis_server.kill()
        # Facts keep arriving while the broker is down; the kicks are refused.
        facts += [store.add("LotRegistered", lot_registered(alpha, lot)) for lot in range(21, 41)]
        wait_for(lambda: beat.refused >= 3, "kicks refused while Redis is down")
        redis_server.start()

        facts += [store.add("LotRegistered", lot_registered(alpha, lot)) for lot in range(41, 61)]
        wait_for(lambda: len(receiver.accepted) == len(facts), "every fact after the restart")
        sent_after = beat.sent
        wait_for(lambda: beat.sent >= sent_after + 5, "kicks flowing again")

    assert receiver.unverified == 0
    assert receiver.sequences() == [f.pk for f in facts]  # each once, in order
    ids = [d.webhook_id for d in receiver.requests]
    assert set(ids) == {d.webhook_id for d in receiver.accepted}  # repeats only as the same id
    created.subscription.refresh_from_db()
    assert created.subscription.checkpoint == facts[-1].pk
    assert not created.subscription.messages.exists()
