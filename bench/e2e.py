"""End to end: handoffs pushed through the production stack as partners push them, against
plain transfers on the same node.

Starts the stack of `make prod-smoke` (`deploy/production/smoke.py`: gunicorn behind nginx
with TLS, one Celery worker per queue, beat, PostgreSQL, a private Redis, anvil with
1-second blocks and zero fees), adds members (--senders of them hand lots over, one
receives), registers --lots lots through the API (split among the senders), then --clients
partner clients (threads, one HTTPS session each, with
idempotency keys) hand every lot to the receiver, which accepts each handoff as soon as it
is confirmed. Timed: from the first handoff sent to the last acceptance confirmed in the
mirror.

Prints ``e2e_handoffs_per_s`` (initiate + accept, confirmed), ``confirm_latency_p50/p95/
p99_s`` (each operation: API 202 → "confirmed"), where an operation's time goes (median
seconds queued → submitted: pre-flight, nonce lock, signing, sending; submitted → mined;
mined → confirmed: the mirror), then ``raw_transfers_per_s``: --raw pre-signed plain
transfers sent to the same node as fast as it takes them, until all are mined. Last line
``e2e_vs_raw: R``.

With ``--open-loop N``, N registrations are then sent at once, spread over the senders,
without any client waiting for an answer's confirmation: ``open_loop_api_accepted_per_s``
(the API's 202s), ``open_loop_signed_and_sent_per_s`` (the submission workers),
``open_loop_confirmed_per_s`` (the mirror), and their ratio to the raw transfers; the
closed-loop figure above is bounded by the clients' own waiting, these by the stack. Then
where the time went, from the processes' own metrics over that window: milliseconds per
registration in each of the submitter's steps (key store, sender lock wait, pre-flight,
nonce, fees and gas estimate, signing, recording, sending; `total` is one whole attempt,
`track` the receipt lookups) and in the API's write requests.

    python bench/e2e.py [--lots 40] [--clients 8] [--senders 1] [--raw 1000] [--open-loop 0]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

import psycopg
import requests
from eth_account import Account
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from web3 import Web3

from bench.stats import percentile
from deploy.production.smoke import (
    BIN,
    CHAIN_ID,
    SmokeFailed,
    Stack,
    _lots_contract,
    _register,
    _wait,
    smoke_stack,
)

STATUSES = ("queued", "submitted", "mined", "confirmed")


def lift_partner_rate_limit() -> None:
    """For the bench's own stack: its clients poll their operations every 0.1 s, and under
    the partners' rate limit (1,200 a minute per token) that polling, not the stack, would
    set the pace."""
    os.environ.setdefault("PROVENANT_API_RATE_PER_TOKEN", "100000/minute")


class Partner:
    """One organisation's API client over HTTPS."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.base = stack.env["SMOKE_BASE"]
        self.session = requests.Session()
        self.session.verify = stack.env["SMOKE_CERT"]
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def write(self, path: str, body: dict[str, Any] | None = None) -> str:
        """Send one write (waiting out a 429, with the same idempotency key); its
        operation's URL."""
        key = secrets.token_hex(12)
        deadline = time.monotonic() + 60
        while True:
            answer = self.session.post(
                f"{self.base}{path}", json=body or {}, headers={"Idempotency-Key": key}, timeout=30
            )
            if answer.status_code != 429 or time.monotonic() > deadline:
                break
            wait = answer.headers.get("Retry-After", "")
            time.sleep(float(wait) if wait.isdigit() else 0.5)
        if answer.status_code != 202:
            raise SmokeFailed(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        url: str = answer.json()["url"]
        return url

    def incoming(self, lot_id: int) -> dict[str, Any]:
        """The open handoff of `lot_id` offered to this partner (waiting out a 429)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = self.session.get(
                f"{self.base}/api/v1/handoffs",
                params={"direction": "incoming", "status": "open", "page_size": "500"},
                timeout=30,
            )
            if answer.status_code == 200:
                found = [h for h in answer.json()["results"] if h["lot_id"] == lot_id]
                if found:
                    offer: dict[str, Any] = found[0]
                    return offer
            wait = answer.headers.get("Retry-After", "")
            time.sleep(float(wait) if wait.isdigit() else 0.2)
        raise SmokeFailed(f"no open handoff of lot {lot_id} within 60 s")

    def follow(self, url: str, seen: dict[str, float]) -> dict[str, Any]:
        """Poll an operation until it is confirmed; `seen` gets when each status showed."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state: dict[str, Any] = self.session.get(url, timeout=30).json()
            seen.setdefault(state["status"], time.perf_counter())
            if state["status"] == "confirmed":
                return state
            if state["status"] == "failed":
                raise SmokeFailed(f"operation failed: {state.get('error')}")
            time.sleep(0.1)
        raise SmokeFailed(f"{url} not confirmed within 120 s")


def handoffs(
    work: list[tuple[Partner, int]], receiver: Partner, receiver_slug: str, clients: int
) -> tuple[float, list[dict[str, float]]]:
    """Hand every (sender, lot) over and accept it; seconds, and each operation's status
    times."""
    timings: list[dict[str, float]] = []

    def one(item: tuple[Partner, int]) -> None:
        sender, lot_id = item
        seen: dict[str, float] = {"sent": time.perf_counter()}
        url = sender.write(
            "/api/v1/handoffs/initiate",
            {"lot_id": lot_id, "receiver": receiver_slug, "quantity": 1000},
        )
        sender.follow(url, seen)
        timings.append(seen)
        handoff = receiver.incoming(lot_id)
        accepted: dict[str, float] = {"sent": time.perf_counter()}
        url = receiver.write(f"/api/v1/handoffs/{handoff['handoff_id']}/accept")
        receiver.follow(url, accepted)
        timings.append(accepted)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, work))
    return time.perf_counter() - began, timings


def open_loop(stack: Stack, senders: list[Partner], count: int, clients: int) -> dict[str, float]:
    """`count` registrations sent as fast as `clients` threads can, none waiting for the
    one before: how many per second the API accepts, the submission workers sign and send,
    and the mirror confirms (each from the first request to the last of its kind)."""
    body = {"name": "Cobalt ore", "quantity": 1000, "unit": "kg", "kind": "raw_material"}
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        urls = list(
            pool.map(
                lambda n: senders[n % len(senders)].write("/api/v1/lots/register", body),
                range(count),
            )
        )
    accepted = time.perf_counter() - began
    ids = [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
    done: dict[str, float] = {}
    deadline = time.monotonic() + 300
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as conn:
        while len(done) < 2 and time.monotonic() < deadline:
            sent, confirmed, failed = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('submitted', 'mined', 'confirmed')),"
                " count(*) FILTER (WHERE status = 'confirmed'),"
                " count(*) FILTER (WHERE status = 'failed')"
                " FROM operations_operation WHERE id::text = ANY(%s)",
                (ids,),
            ).fetchone() or (0, 0, 0)
            if failed:
                raise SmokeFailed(f"{failed} registrations failed")
            now = time.perf_counter() - began
            if sent == count:
                done.setdefault("sent", now)
            if confirmed == count:
                done.setdefault("confirmed", now)
            time.sleep(0.1)
    if len(done) < 2:
        raise SmokeFailed("the open-loop registrations were not all confirmed within 300 s")
    return {
        "api_accepted_per_s": count / accepted,
        "signed_and_sent_per_s": count / done["sent"],
        "confirmed_per_s": count / done["confirmed"],
    }


def status_steps(timings: list[dict[str, float]]) -> dict[str, list[float]]:
    """Seconds between the statuses each operation showed ("sent->submitted", …)."""
    steps: dict[str, list[float]] = defaultdict(list)
    for t in timings:
        points = [("sent", t["sent"])] + [(s, t[s]) for s in STATUSES[1:] if s in t]
        for (a, ta), (b, tb) in itertools.pairwise(points):
            steps[f"{a}->{b}"].append(tb - ta)
    return steps


def time_spent(stack: Stack) -> dict[str, tuple[float, float]]:
    """Seconds and counts so far, from every process's metrics (the stack's shared
    multiprocess directory): each submitter step ("submit_<step>") and the API's writes
    ("api_write": POSTs answered 2xx, in gunicorn)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=stack.env["PROMETHEUS_MULTIPROC_DIR"])  # type: ignore[no-untyped-call]
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for metric in registry.collect():
        for sample in metric.samples:
            kind = sample.name.rsplit("_", 1)[-1]
            if kind not in ("sum", "count"):
                continue
            if metric.name == "provenant_submit_step_duration_seconds":
                name = f"submit_{sample.labels['step']}"
            elif (
                metric.name == "provenant_http_request_duration_seconds"
                and sample.labels.get("method") == "POST"
                and sample.labels.get("status") == "2xx"
                and sample.labels.get("view", "").startswith("api:")
            ):
                name = "api_write"
            else:
                continue
            spent[name][0 if kind == "sum" else 1] += sample.value
    return {name: (total, count) for name, (total, count) in spent.items()}


def breakdown(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]],
              operations: int) -> list[str]:  # fmt: skip
    """Lines: for each step, milliseconds per operation between two `time_spent` readings
    (its seconds over `operations`) and the mean of one occurrence."""
    lines = []
    for name in sorted(after):
        total = after[name][0] - before.get(name, (0.0, 0.0))[0]
        count = after[name][1] - before.get(name, (0.0, 0.0))[1]
        if count:
            lines.append(
                f"open_loop_{name}_ms_per_operation: {1000 * total / operations:.1f}"
                f" (mean {1000 * total / count:.1f} ms over {count:.0f})"
            )
    return lines


def raw_transfers(w3: Web3, count: int, senders: int = 8) -> float:
    """Pre-signed zero-value transfers, sent as fast as the node takes them; per second
    from the first send until every one is mined."""
    accounts = [Account.create() for _ in range(senders)]
    signed = [
        account.sign_transaction(
            {
                "to": Account.create().address,
                "value": 0,
                "gas": 21_000,
                "gasPrice": 0,
                "nonce": nonce,
                "chainId": CHAIN_ID,
            }
        ).raw_transaction
        for nonce in range(count // senders)
        for account in accounts
    ]
    began = time.perf_counter()
    for raw in signed:
        w3.eth.send_raw_transaction(raw)
    last = count // senders

    def all_mined() -> bool:
        return all(w3.eth.get_transaction_count(a.address) == last for a in accounts)

    _wait("raw transfers mined", all_mined, deadline_s=120)
    return len(signed) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lots", type=int, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--raw", type=int, default=1000)
    parser.add_argument(
        "--senders", type=int, default=1, help="member organisations handing lots over"
    )
    parser.add_argument(
        "--open-loop",
        type=int,
        default=0,
        help="also send this many registrations at once (no client waits) and print the"
        " rates the API, the signing and the mirror reach",
    )
    args = parser.parse_args()
    lift_partner_rate_limit()
    with smoke_stack(keep=False) as stack:

        def member(slug: str, roles: str) -> dict[str, str]:
            found: dict[str, str] = json.loads(
                stack.run(
                    [
                        str(BIN / "python"),
                        "manage.py",
                        "add_organisation",
                        "--slug",
                        slug,
                        "--name",
                        slug.replace("-", " ").title(),
                        "--roles",
                        roles,
                        "--admin",
                        f"{slug}-admin",
                    ]
                )
            )
            return found

        members = [json.loads(stack.env["SMOKE_MEMBER"])]
        members += [member(f"bench-mine-{n}", "MINER") for n in range(2, args.senders + 1)]
        refinery = member("bench-refinery", "MANUFACTURER")
        lots_contract = _lots_contract(stack)
        for m in (*members, refinery):
            _wait(
                "registration",
                lambda m=m: lots_contract.functions.isRegistered(m["address"]).call(),
                deadline_s=120,
            )
        senders = [Partner(stack, m["token"]) for m in members]
        receiver = Partner(stack, refinery["token"])
        _wait(
            "ready",
            lambda: receiver.session.get(f"{receiver.base}/health/ready", timeout=60).ok,
            deadline_s=120,
        )
        work = [
            (sender, lot)
            for sender in senders
            for lot in _register(sender.session, sender.base, args.lots // len(senders))
        ]
        lots = [lot for _, lot in work]
        print(f"{len(lots)} lots registered by {len(senders)} members", flush=True)
        elapsed, timings = handoffs(work, receiver, "bench-refinery", args.clients)
        rate = len(lots) / elapsed
        latencies = [t["confirmed"] - t["sent"] for t in timings]
        steps = status_steps(timings)
        ceiling: dict[str, float] = {}
        steps_spent: list[str] = []
        if args.open_loop:
            before = time_spent(stack)
            ceiling = open_loop(stack, senders, args.open_loop, args.clients)
            steps_spent = breakdown(before, time_spent(stack), args.open_loop)
        w3 = Web3(Web3.HTTPProvider(stack.env["SMOKE_NODE"]))
        raw = raw_transfers(w3, args.raw)
    print(f"e2e_handoffs_per_s: {rate:.2f} ({len(lots)} handoffs, {len(timings)} operations, "
          f"{args.clients} clients, {args.senders} senders, {elapsed:.1f} s)")  # fmt: skip
    for q in (0.5, 0.95, 0.99):
        print(f"confirm_latency_p{int(q * 100)}_s: {percentile(latencies, q):.2f}")
    for step, values in sorted(steps.items()):
        print(f"median_{step.replace('->', '_to_')}_s: {percentile(values, 0.5):.2f}")
    for name, value in ceiling.items():
        print(f"open_loop_{name}: {value:.1f} ({args.open_loop} registrations)")
    for line in steps_spent:
        print(line)
    print(f"raw_transfers_per_s: {raw:.0f}")
    if ceiling:
        print(f"open_loop_confirmed_vs_raw: {ceiling['confirmed_per_s'] / raw:.4f}")
    print(f"e2e_vs_raw: {rate / raw:.4f}")


if __name__ == "__main__":
    main()
