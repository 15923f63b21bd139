"""The JetStream publisher against a private nats-server (JetStream on, a temporary store):
every fact once, restarts and crashes without doubles, NATS restarted without loss,
retractions after a reorganisation, and replay from a sequence and from a time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from nats.js.api import ConsumerConfig, DeliverPolicy

from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor
from webapp.streams.jetstream import CURSOR_NAME, JetStreamPublisher
from webapp.streams.jetstream_link import (
    JetStreamConfig,
    JetStreamLink,
    NatsUnavailable,
    Outgoing,
)
from webapp.streams.payloads import fact_event_id, fact_payload

CHAIN = 1337
ROOT = Path(__file__).resolve().parents[2]
NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(NATS_SERVER is None, reason="the nats-server binary is not installed"),
]


class NatsServer:
    """A private nats-server with JetStream on a free port; stop and start keep its store."""

    def __init__(self, store: Path) -> None:
        self.store = store
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log, store = self.store / "server.log", self.store / "js"
        log.write_text("")
        assert NATS_SERVER is not None
        args = ["-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store), "-l", str(log)]
        self.process = subprocess.Popen(
            [NATS_SERVER, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while "Server is ready" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    nats_server = NatsServer(tmp_path)
    nats_server.start()
    yield nats_server
    nats_server.stop()


@pytest.fixture
def config(server: NatsServer) -> JetStreamConfig:
    return JetStreamConfig(url=server.url, duplicate_window_s=600, timeout_s=2.0)


@pytest.fixture
def links(config: JetStreamConfig) -> Iterator[list[JetStreamLink]]:
    """Every link a test opens is closed after it."""
    opened: list[JetStreamLink] = []
    yield opened
    for link in opened:
        link.close()


def publisher(config: JetStreamConfig, links: list[JetStreamLink], **kw: Any) -> JetStreamPublisher:
    """A fresh publisher process, as after a restart: it knows only the database."""
    link = JetStreamLink(config)
    links.append(link)
    return JetStreamPublisher(link=link, **kw)


def store_facts(
    count: int, *, block: int, fork: str = "a", chain_id: int = CHAIN
) -> list[ChainEvent]:
    """`count` events, one per block from `block` on (block hashes differ per `fork`)."""
    Checkpoint.objects.get_or_create(chain_id=chain_id, defaults={"block_number": 0})
    made = [
        ChainEvent(
            chain_id=chain_id,
            block_number=number,
            block_hash="0x" + f"{fork}{number:x}".rjust(64, "0"),
            block_timestamp=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=number),
            transaction_hash="0x" + f"{number:x}".rjust(64, "f"),
            transaction_index=0,
            log_index=0,
            contract="LotRegistry",
            address="0x" + "11" * 20,
            event="LotRegistered" if number % 2 else "HandoffInitiated",
            args={"lotId": str(number), "quantity": str(10 * number)},
            content_hash="0x" + "00" * 32,
            running_hash="0x" + "00" * 32,
        )
        for number in range(block, block + count)
    ]
    ChainEvent.objects.bulk_create(made)
    return made


def read_stream(
    config: JetStreamConfig, *, deliver: ConsumerConfig | None = None
) -> list[dict[str, Any]]:
    """Every message a new ordered consumer gets (from the start, or as `deliver` says):
    subject, Nats-Msg-Id, stream sequence, timestamp and the decoded body."""

    async def read() -> list[dict[str, Any]]:
        nc = await nats.connect(config.url, connect_timeout=2)
        try:
            js = nc.jetstream(timeout=2)
            last = (await js.stream_info(config.stream)).state.last_seq
            settings = deliver or ConsumerConfig()
            sub = await js.subscribe(
                f"{config.subject_prefix}.>",
                stream=config.stream,
                ordered_consumer=True,
                config=settings,
            )
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + 10
            while not got or got[-1]["seq"] < last:
                if last == 0 or time.monotonic() > deadline:
                    break
                msg = await sub.next_msg(timeout=5)
                got.append(
                    {
                        "subject": msg.subject,
                        "msg_id": (msg.headers or {}).get("Nats-Msg-Id"),
                        "seq": msg.metadata.sequence.stream,
                        "time": msg.metadata.timestamp,
                        "body": json.loads(msg.data),
                    }
                )
            await sub.unsubscribe()
            return got
        finally:
            await nc.close()

    return asyncio.run(read())


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["msg_id"] for m in messages]


def test_every_fact_is_published_once_with_its_subject_header_and_payload(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    facts = store_facts(25, block=100)
    assert publisher(config, links, batch=10).publish_pending() == 25

    got = read_stream(config)
    assert ids(got) == [fact_event_id(e) for e in facts]
    for message, event in zip(got, facts, strict=True):
        assert message["subject"] == f"provenant.{CHAIN}.{event.event}"
        assert message["body"] == json.loads(json.dumps(fact_payload(event)))
    assert ConsumerCursor.objects.get(chain_id=CHAIN, name=CURSOR_NAME).event_id == facts[-1].pk


def test_a_restarted_publisher_publishes_nothing_again(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    store_facts(12, block=1)
    publisher(config, links).publish_pending()
    assert publisher(config, links).publish_pending() == 0
    more = store_facts(3, block=50)
    assert publisher(config, links).publish_pending() == 3

    got = read_stream(config)
    assert len(got) == 15
    assert len(set(ids(got))) == 15
    assert ids(got)[-3:] == [fact_event_id(e) for e in more]


def test_a_crash_between_publish_and_cursor_move_doubles_nothing(
    config: JetStreamConfig, links: list[JetStreamLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = store_facts(30, block=1)
    crashing = publisher(config, links, batch=20)

    def crash(*args: Any) -> None:
        raise KeyboardInterrupt("killed after the acks, before the cursor moved")

    monkeypatch.setattr(crashing, "_cursor_move", crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.publish_pending()
    assert ConsumerCursor.objects.get(chain_id=CHAIN, name=CURSOR_NAME).event_id == 0

    # Restarted with a duplicate window too short to help: the walk back finds the batch.
    short = JetStreamConfig(url=config.url, duplicate_window_s=1, timeout_s=2.0)
    assert publisher(short, links, batch=20).publish_pending() == 30
    got = read_stream(config)
    assert ids(got) == [fact_event_id(e) for e in facts]


def test_nats_down_holds_the_cursor_and_the_publisher_catches_up_when_it_returns(
    server: NatsServer, config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    first = store_facts(10, block=1)
    running = publisher(config, links, batch=8)
    running.publish_pending()
    server.stop()

    later = store_facts(15, block=100)
    with pytest.raises(NatsUnavailable):
        running.publish_pending()
    cursor = ConsumerCursor.objects.get(chain_id=CHAIN, name=CURSOR_NAME)
    assert cursor.event_id == first[-1].pk  # nothing unacked was counted

    server.start()  # same store directory: the stream and its messages come back
    deadline = time.monotonic() + 30
    while True:  # what `run` does: back off and try again, within a deadline here
        try:
            running.publish_pending()
            break
        except NatsUnavailable:
            assert time.monotonic() < deadline, "the publisher never caught up"
            time.sleep(0.2)
    got = read_stream(config)
    assert ids(got) == [fact_event_id(e) for e in first + later]


@pytest.mark.django_db(transaction=True)  # run() works in a thread with its own connection
def test_run_waits_for_nats_and_stops_when_asked(
    server: NatsServer, config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    facts = store_facts(5, block=1)
    server.stop()
    stop = threading.Event()
    running = publisher(config, links)

    def work() -> None:
        try:
            running.run(stop=stop, idle_s=0.05, backoff_s=(0.05, 0.2))
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        server.start()
        deadline = time.monotonic() + 30
        while (
            ConsumerCursor.objects.filter(
                chain_id=CHAIN, name=CURSOR_NAME, event_id=facts[-1].pk
            ).count()
            == 0
        ):
            assert time.monotonic() < deadline, "run() never published after NATS returned"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert ids(read_stream(config)) == [fact_event_id(e) for e in facts]


def test_a_reorganisation_retracts_the_published_facts_above_the_fork(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    kept = store_facts(5, block=1)
    doomed = store_facts(3, block=6)
    running = publisher(config, links)
    running.publish_pending()
    # What the indexer's reorg does: delete the events above the common ancestor.
    ChainEvent.objects.filter(chain_id=CHAIN, block_number__gt=5).delete()
    replacing = store_facts(2, block=6, fork="b")

    running.publish_pending()
    got = read_stream(config)
    retractions = [m for m in got if m["subject"] == f"provenant.{CHAIN}.retracted"]
    assert [m["body"]["id"] for m in retractions] == [fact_event_id(e) for e in reversed(doomed)]
    assert all(m["body"]["type"] == "retracted" for m in retractions)
    assert retractions[0]["body"]["retractedType"] == doomed[-1].event
    assert ids(got) == (
        [fact_event_id(e) for e in kept + doomed]
        + [f"{fact_event_id(e)}.retracted" for e in reversed(doomed)]
        + [fact_event_id(e) for e in replacing]
    )
    # A restart retracts nothing twice.
    assert publisher(config, links).publish_pending() == 0
    assert len(read_stream(config)) == len(got)


def test_a_publisher_restarted_after_a_reorganisation_retracts_what_it_had_published(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    store_facts(4, block=1)
    doomed = store_facts(2, block=5)
    publisher(config, links).publish_pending()
    ChainEvent.objects.filter(chain_id=CHAIN, block_number__gt=4).delete()

    publisher(config, links).publish_pending()
    got = read_stream(config)
    assert [m["body"]["id"] for m in got if m["body"]["type"] == "retracted"] == [
        fact_event_id(e) for e in reversed(doomed)
    ]
    survivor = ChainEvent.objects.filter(chain_id=CHAIN).order_by("id").last()
    assert survivor is not None
    assert ConsumerCursor.objects.get(chain_id=CHAIN, name=CURSOR_NAME).event_id == survivor.pk


def test_a_consumer_replays_from_a_sequence_and_from_a_time(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    facts = store_facts(20, block=1)
    publisher(config, links).publish_pending()
    everything = read_stream(config)

    from_seq = read_stream(
        config,
        deliver=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=12),
    )
    assert [m["seq"] for m in from_seq] == list(range(12, 21))
    assert ids(from_seq) == [fact_event_id(e) for e in facts[11:]]

    # The 16th message's time, to the microsecond (the client rounds the server's ns).
    moment = everything[15]["time"] - timedelta(microseconds=1)
    from_time = read_stream(
        config,
        deliver=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=moment),
    )
    assert [m["seq"] for m in from_time] == list(range(16, 21))
    assert ids(from_time) == [fact_event_id(e) for e in facts[15:]]


def test_the_stream_is_created_once_and_its_settings_follow_the_configuration(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    publisher(config, links).link.ensure_stream()
    longer = JetStreamConfig(url=config.url, duplicate_window_s=7200, timeout_s=2.0)
    publisher(longer, links).link.ensure_stream()

    async def window() -> float:
        nc = await nats.connect(config.url, connect_timeout=2)
        try:
            info = await nc.jetstream(timeout=2).stream_info(config.stream)
            assert info.config.subjects == ["provenant.>"]
            return float(info.config.duplicate_window or 0)
        finally:
            await nc.close()

    assert asyncio.run(window()) == 7200


def test_an_unreachable_server_is_reported_within_the_deadline(
    links: list[JetStreamLink],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    link = JetStreamLink(JetStreamConfig(url=f"nats://127.0.0.1:{port}", timeout_s=0.5))
    links.append(link)
    store_facts(2, block=1)
    with pytest.raises(NatsUnavailable):
        JetStreamPublisher(link=link).publish_pending()
    assert ConsumerCursor.objects.get(chain_id=CHAIN, name=CURSOR_NAME).event_id == 0


@pytest.mark.django_db(transaction=True)  # the command runs in processes of its own
def test_the_command_killed_mid_run_then_run_again_publishes_each_fact_once(
    server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = store_facts(3000, block=1)
    db = connection.settings_dict
    monkeypatch.setenv("PROVENANT_NATS_URL", server.url)
    # A window too short to rely on: the restarted command must find the batch itself.
    monkeypatch.setenv("PROVENANT_NATS_DUPLICATE_WINDOW_S", "1")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    command = [sys.executable, "manage.py", "publish_jetstream", "--batch", "40"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ConsumerCursor.objects.filter(name=CURSOR_NAME, event_id__gt=0).exists():
            assert first.poll() is None, "the publisher exited early"
            assert time.monotonic() < deadline, "the publisher published nothing"
            time.sleep(0.02)
    finally:
        first.kill()  # SIGKILL, wherever it is
        first.wait(timeout=30)

    again = subprocess.run(
        [*command, "--once"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    config = JetStreamConfig(url=server.url, timeout_s=2.0)
    assert ids(read_stream(config)) == [fact_event_id(e) for e in facts]
    assert ConsumerCursor.objects.get(name=CURSOR_NAME).event_id == facts[-1].pk


def test_a_message_no_stream_takes_is_reported_and_not_counted(
    config: JetStreamConfig, links: list[JetStreamLink]
) -> None:
    link = publisher(config, links).link
    with pytest.raises(NatsUnavailable, match="no stream listens"):
        link.publish([Outgoing(subject="elsewhere.1.Fact", body=b"{}", msg_id="evt_x")])
    link.publish([Outgoing(subject="provenant.1.Fact", body=b"{}", msg_id="evt_y")])
    assert ids(read_stream(config)) == ["evt_y"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PROVENANT_NATS_URL", "http://127.0.0.1:4222", "nats://host:port"),
        ("PROVENANT_NATS_STREAM", "PROVENANT.FACTS", "letters, digits"),
        ("PROVENANT_NATS_SUBJECT_PREFIX", "provenant.>", "without wildcards"),
        ("PROVENANT_NATS_DUPLICATE_WINDOW_S", "-5", "PROVENANT_NATS_DUPLICATE_WINDOW_S"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=problem):
        JetStreamConfig.from_settings()


@pytest.mark.unit
def test_the_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "STREAM", "SUBJECT_PREFIX", "DUPLICATE_WINDOW_S", "MAX_AGE_S"):
        monkeypatch.delenv(f"PROVENANT_NATS_{name}", raising=False)
    config = JetStreamConfig.from_settings()
    assert (config.url, config.stream, config.subject(5, "LotRegistered")) == (
        "nats://127.0.0.1:4222",
        "PROVENANT",
        "provenant.5.LotRegistered",
    )
