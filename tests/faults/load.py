"""The steady load the faults strike: partners calling the REST API as their systems do.

Each sending mine registers a lot every `interval` seconds and hands each of its confirmed
lots to the refinery once; the refinery accepts every open handoff once. Every write has
an idempotency key, and a write that got no answer, a 5xx or a 429 is sent again with the
same key (as a partner's system retries; after the answer's Retry-After when it has one),
so no fact may appear twice however often a request went out. Every operation an answer
accepted (202) is recorded for the checks.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.faults.site import RECEIVER, SENDERS, Site

#: How long a partner's system keeps retrying one write before it gives up.
RETRY_FOR_S = 120.0


@dataclass
class Ledger:
    """What the API accepted: operation id -> (organisation, action, idempotency key)."""

    accepted: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    retried: int = 0
    refused: list[str] = field(default_factory=list)  # 4xx answers, with their reason
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, who: str, action: str, key: str) -> None:
        with self.lock:
            known = self.accepted.setdefault(operation, (who, action, key))
            if known[2] != key:
                raise AssertionError(f"operation {operation} answered for two keys")


class Partner:
    def __init__(self, site: Site, slug: str, ledger: Ledger, stop: threading.Event) -> None:
        self.site, self.slug, self.ledger, self.stop = site, slug, ledger, stop
        self.session = requests.Session()
        self.session.verify = site.env["FAULTS_CERT"]
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {site.members[slug].token}"

    def write(self, path: str, body: dict[str, Any], action: str, key: str) -> str | None:
        """POST until an answer that is not a 5xx (the same key each time); the operation's
        id, or None when the API refused the request (4xx, recorded)."""
        deadline = time.monotonic() + RETRY_FOR_S
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.session.post(
                    f"{self.site.base}{path}",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=15,
                )
            except requests.RequestException:
                answer = None
            if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                break
            if time.monotonic() > deadline:
                status = "no answer" if answer is None else answer.status_code
                raise AssertionError(f"{path}: {status} for {RETRY_FOR_S:.0f} s")
            with self.ledger.lock:
                self.ledger.retried += 1
            # throttled (429) or unavailable (503): as long as the answer asks, else back off
            asked = answer.headers.get("Retry-After", "") if answer is not None else ""
            time.sleep(float(asked) if asked.isdigit() else min(0.2 * attempt, 2.0))
        if answer.status_code != 202:
            with self.ledger.lock:
                self.ledger.refused.append(f"{path} {answer.status_code} {answer.text[:200]}")
            return None
        operation: str = answer.json()["id"]
        self.ledger.record(operation, self.slug, action, key)
        return operation

    def get(self, path: str, **params: Any) -> Any:
        try:
            answer = self.session.get(f"{self.site.base}{path}", params=params, timeout=15)
        except requests.RequestException:
            return None
        return answer.json() if answer.status_code == 200 else None


def _sender(partner: Partner, interval: float) -> None:
    registered: list[str] = []  # register operations whose lot is not handed over yet
    while not partner.stop.is_set():
        key = f"register-{secrets.token_hex(8)}"
        body = {"name": "Cobalt ore", "quantity": 1000, "unit": "kg", "kind": "raw_material"}
        if operation := partner.write("/api/v1/lots/register", body, "lot.register", key):
            registered.append(operation)
        for operation in list(registered):
            state = partner.get(f"/api/v1/operations/{operation}")
            if state is None or state["status"] not in ("confirmed", "failed"):
                continue
            registered.remove(operation)
            if state["status"] == "confirmed":
                partner.write(
                    "/api/v1/handoffs/initiate",
                    {"lot_id": state["lot_id"], "receiver": RECEIVER, "quantity": 1000},
                    "handoff.initiate",
                    f"handoff-{state['lot_id']}",  # one handoff per lot, however often sent
                )
        partner.stop.wait(interval)


def _receiver(partner: Partner, interval: float) -> None:
    while not partner.stop.is_set():
        listing = partner.get(
            "/api/v1/handoffs", direction="incoming", status="open", page_size=500
        )
        for handoff in (listing or {}).get("results", []):
            partner.write(
                f"/api/v1/handoffs/{handoff['handoff_id']}/accept",
                {},
                "handoff.accept",
                f"accept-{handoff['handoff_id']}",  # one acceptance per handoff
            )
        partner.stop.wait(interval)


@contextlib.contextmanager
def steady_load(site: Site, ledger: Ledger, *, interval: float = 3.0) -> Iterator[None]:
    """Partners writing through the API until the block ends; then their threads finish
    (each within its retry deadline) and every write they started has its answer."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_sender, args=(Partner(site, slug, ledger, stop), interval), daemon=True
        )
        for slug in SENDERS
    ]
    threads.append(
        threading.Thread(
            target=_receiver, args=(Partner(site, RECEIVER, ledger, stop), 1.0), daemon=True
        )
    )
    errors: list[BaseException] = []

    def guarded(thread: threading.Thread) -> None:
        try:
            thread.run()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    runners = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in threads]
    for runner in runners:
        runner.start()
    try:
        yield
    finally:
        stop.set()
        for runner in runners:
            runner.join(timeout=RETRY_FOR_S + 30)
    if errors:
        raise errors[0]
    if alive := [r for r in runners if r.is_alive()]:
        raise AssertionError(f"{len(alive)} partner threads did not finish")
