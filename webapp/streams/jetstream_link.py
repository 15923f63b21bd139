"""The connection to NATS JetStream, for code that is not async: the stream's setup, batch
publishing with acknowledgements, and reading back what the stream holds.

nats-py is asyncio-only and the publisher lives in Django's synchronous world (the ORM,
its transactions), so the link runs its own event loop in a daemon thread and every call
waits on it with a deadline. Whatever goes wrong on the NATS side (no server, a lost
connection, an ack that does not come in time, an error answer) comes out as
:class:`NatsUnavailable`: the caller backs off and tries again, and nothing it holds is
taken as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from webapp.env import env_int, env_str

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Messages in one publish_begin at most: a larger batch goes out in parts of this size.
MAX_IN_FLIGHT = 8192


class NatsUnavailable(RuntimeError):
    """NATS did not take or acknowledge what was asked, within the deadline."""


class PublishRefused(RuntimeError):
    """The stream answered a publish with an error."""


class _Acks:
    """The acks one batch waits for (created, and touched only, in the link's loop)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: set[int] = set()
        self.error = ""
        self.done = asyncio.Event()


#: What goes wrong talking to NATS; each is "try again later" to the publisher.
_NATS_ERRORS = (
    nats.errors.Error,
    nats.js.errors.Error,
    OSError,
    asyncio.TimeoutError,
    FutureTimeout,
    PublishRefused,
)


@dataclass(frozen=True)
class JetStreamConfig:
    """Where and how facts are published. Each value comes from a Django setting of the
    same name, else the environment, else the default: a first run needs neither."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "PROVENANT"
    subject_prefix: str = "provenant"
    #: How long the server remembers a Nats-Msg-Id: a publisher restarted within it never
    #: doubles a message even without the stream walk at its start (`jetstream`).
    duplicate_window_s: int = 3600
    #: How long the stream keeps messages (0: for ever); consumers replay within it.
    max_age_s: int = 0
    #: The deadline of one call: connecting, the stream's setup, a batch's acks.
    timeout_s: float = 5.0

    @classmethod
    def from_settings(cls) -> JetStreamConfig:
        def pick(name: str, default: Any) -> Any:
            if hasattr(settings, name):
                return getattr(settings, name)
            if isinstance(default, str):
                return env_str(name, default)
            return env_int(name, default, minimum=0)

        config = cls(
            url=pick("PROVENANT_NATS_URL", cls.url),
            stream=pick("PROVENANT_NATS_STREAM", cls.stream),
            subject_prefix=pick("PROVENANT_NATS_SUBJECT_PREFIX", cls.subject_prefix),
            duplicate_window_s=pick("PROVENANT_NATS_DUPLICATE_WINDOW_S", cls.duplicate_window_s),
            max_age_s=pick("PROVENANT_NATS_MAX_AGE_S", cls.max_age_s),
        )
        config.check()
        return config

    def check(self) -> None:
        """Raise ImproperlyConfigured, naming the setting, for a value NATS would refuse."""
        if not re.fullmatch(r"(nats|tls)://\S+", self.url):
            raise ImproperlyConfigured(
                f"PROVENANT_NATS_URL must be nats://host:port or tls://host:port, got {self.url!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.stream):
            raise ImproperlyConfigured(
                f"PROVENANT_NATS_STREAM must be letters, digits, _ or -, got {self.stream!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", self.subject_prefix):
            raise ImproperlyConfigured(
                "PROVENANT_NATS_SUBJECT_PREFIX must be dot-separated tokens without"
                f" wildcards or spaces, got {self.subject_prefix!r}"
            )
        if self.max_age_s and self.duplicate_window_s > self.max_age_s:
            raise ImproperlyConfigured(
                "PROVENANT_NATS_DUPLICATE_WINDOW_S must not exceed PROVENANT_NATS_MAX_AGE_S"
            )

    def subject(self, chain_id: int, kind: str) -> str:
        return f"{self.subject_prefix}.{chain_id}.{kind}"

    def alert_subject(self, organisation_slug: str) -> str:
        """An organisation's alert events (`org-` keeps them apart from a chain's facts)."""
        return f"{self.subject_prefix}.org-{organisation_slug}.alerts"


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: the server drops a second one with the same `msg_id`."""

    subject: str
    body: bytes
    msg_id: str


@dataclass(frozen=True)
class Stored:
    """One message the stream holds."""

    seq: int
    subject: str
    payload: dict[str, Any]


class JetStreamLink:
    """One NATS connection with its own event loop thread; call :meth:`close` when done."""

    def __init__(self, config: JetStreamConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jetstream-link", daemon=True
        )
        self._thread.start()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._sending = asyncio.Lock()
        self._inbox: str | None = None
        self._inbox_nc: Client | None = None
        self._waiting: dict[int, _Acks] = {}
        self._batches = 0

    # ------------------------------------------------------------------ public API

    def ensure_stream(self) -> None:
        """Connect if needed and create or update the stream (idempotent)."""
        self._call(self._ensure_stream(), self.config.timeout_s * 3)

    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish in order and wait for every ack; raises NatsUnavailable unless the
        stream acknowledged all of them (then some may be stored, some not)."""
        for start in range(0, len(messages), MAX_IN_FLIGHT):
            self.publish_wait(self.publish_begin(messages[start : start + MAX_IN_FLIGHT]))

    def publish_begin(self, messages: Sequence[Outgoing]) -> Future[None]:
        """Start publishing (at most MAX_IN_FLIGHT messages) after those begun before, and
        return at once; :meth:`publish_wait` waits for the acks."""
        if len(messages) > MAX_IN_FLIGHT:
            raise ValueError(f"at most {MAX_IN_FLIGHT} messages in flight")
        return asyncio.run_coroutine_threadsafe(self._publish(messages), self._loop)

    def publish_wait(self, acks: Future[None]) -> None:
        """Wait for what publish_begin started; NatsUnavailable unless all were acked."""
        self._result(acks, self.config.timeout_s * 3 + 1)

    def holds(self, subjects: str) -> bool:
        """Whether the stream holds any message on `subjects` (a filter: ``a.b.>``)."""
        return self._call(self._holds(subjects), self.config.timeout_s * 3)

    def recent(self, *, before: int | None, count: int) -> tuple[list[Stored], int]:
        """Up to `count` stream sequences just below `before` (default: past the last
        one), newest first, and the lowest sequence looked at (0: the stream's start)."""
        return self._call(self._recent(before, count), self.config.timeout_s * 3)

    def close(self) -> None:
        with contextlib.suppress(NatsUnavailable):
            self._call(self._close(), self.config.timeout_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self.config.timeout_s)

    # ------------------------------------------------------------------- internals

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return self._result(asyncio.run_coroutine_threadsafe(coroutine, self._loop), timeout)

    def _result(self, future: Future[T], timeout: float) -> T:
        try:
            return future.result(timeout)
        except _NATS_ERRORS as exc:
            future.cancel()
            self._stream_ready = False  # set it up again once NATS answers
            raise NatsUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _connected(self) -> JetStreamContext:
        if self._nc is not None and self._nc.is_closed:
            self._nc, self._js = None, None
        if self._nc is None:
            # Once connected, the client reconnects by itself for as long as it lives
            # (-1 attempts); the first connection has the call's deadline instead.
            self._nc = await asyncio.wait_for(
                nats.connect(
                    self.config.url,
                    connect_timeout=self.config.timeout_s,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=_log_error,
                ),
                self.config.timeout_s * 2,
            )
            self._js = self._nc.jetstream(timeout=self.config.timeout_s)
        assert self._js is not None
        return self._js

    async def _ensure_stream(self) -> None:
        js = await self._connected()
        if self._stream_ready:
            return
        wanted = StreamConfig(
            name=self.config.stream,
            subjects=[f"{self.config.subject_prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=float(self.config.duplicate_window_s),
            max_age=float(self.config.max_age_s),
        )
        try:
            info = await js.stream_info(self.config.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(wanted)
            log.info("JetStream stream %s created", self.config.stream)
        else:
            have = info.config
            if (
                have.subjects != wanted.subjects
                or have.duplicate_window != wanted.duplicate_window
                or (have.max_age or 0) != wanted.max_age
            ):
                merged = StreamConfig.from_response(have.as_dict())
                merged.subjects = wanted.subjects
                merged.duplicate_window = wanted.duplicate_window
                merged.max_age = wanted.max_age
                await js.update_stream(merged)
                log.info("JetStream stream %s updated", self.config.stream)
        self._stream_ready = True

    async def _publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish with a reply subject per message on one inbox subscription and wait for
        the batch's acks: js.publish_async's future, token and ack object per message cost
        more than the publish itself."""
        await self._ensure_stream()
        nc = self._nc
        assert nc is not None
        inbox = await self._ack_inbox(nc)
        self._batches += 1
        batch = self._batches
        acks = self._waiting[batch] = _Acks(len(messages))
        try:
            async with self._sending:  # batches begun together go out in order
                for i, message in enumerate(messages):
                    await nc.publish(
                        message.subject,
                        message.body,
                        reply=f"{inbox}.{batch}_{i}",
                        headers={"Nats-Msg-Id": message.msg_id},
                    )
            if messages:
                await asyncio.wait_for(acks.done.wait(), self.config.timeout_s)
            if acks.error:
                raise PublishRefused(acks.error)
        finally:
            del self._waiting[batch]

    async def _ack_inbox(self, nc: Client) -> str:
        """The inbox acks come to, subscribed once per connection (kept on reconnects)."""
        if self._inbox is None or self._inbox_nc is not nc:
            self._inbox = nc.new_inbox()
            self._inbox_nc = nc
            await nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        return self._inbox

    async def _on_ack(self, msg: Msg) -> None:
        batch, _, index = msg.subject.rpartition(".")[2].partition("_")
        acks = self._waiting.get(int(batch))
        if acks is None:  # a batch given up on
            return
        if not msg.data and (msg.headers or {}).get("Status") == "503":
            acks.error = f"no stream listens on {self.config.subject_prefix}.>"
        elif b'"error"' in msg.data:
            acks.error = str(json.loads(msg.data).get("error"))
        else:
            acks.seen.add(int(index))
        if acks.error or len(acks.seen) == acks.expected:
            acks.done.set()

    async def _holds(self, subjects: str) -> bool:
        await self._ensure_stream()
        assert self._js is not None
        info = await self._js.stream_info(self.config.stream, subjects_filter=subjects)
        return bool(info.state.subjects)

    async def _recent(self, before: int | None, count: int) -> tuple[list[Stored], int]:
        await self._ensure_stream()
        js = self._js
        assert js is not None
        state = (await js.stream_info(self.config.stream)).state
        top = state.last_seq if before is None else min(before - 1, state.last_seq)
        start = max(state.first_seq, 1)
        if top < start:
            return [], 0
        lowest = max(start, top - count + 1)
        found = []
        for seq in range(top, lowest - 1, -1):
            try:
                msg = await js.get_msg(self.config.stream, seq)
            except nats.js.errors.NotFoundError:
                continue  # deleted from the stream
            found.append(Stored(seq, msg.subject or "", json.loads(msg.data or b"{}")))
        return found, (0 if lowest <= start else lowest)

    async def _close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc, self._js = None, None


async def _log_error(exc: Exception) -> None:
    log.warning("NATS: %s: %s", type(exc).__name__, exc)
