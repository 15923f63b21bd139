"""Soak: the production stack under a steady handoff load for half an hour, with each
process's memory and the database's tables sampled as it runs; growth that the data written
does not explain fails it.

Starts the stack of `make prod-smoke` (`deploy/production/smoke.py`: gunicorn behind nginx
with TLS, one Celery worker per queue, beat, the streams server, a private Redis, a new
PostgreSQL database, anvil with 1-second blocks), adds --senders members that hand lots
over and one that receives. A background thread then starts --rate cycles a second, at
fixed times whatever the stack's latency (an open loop, so a slow stack shows as a backlog,
not as a lighter load): a sender registers a lot through the Partner API, hands it to the
receiver, and the receiver accepts it, each write with its own idempotency key and each
followed until confirmed (three operations a cycle). At most --in-flight cycles run at
once; a tick that finds them all busy is counted as skipped.

Every --interval seconds, for --minutes: the resident memory of each process group the
stack started (the sum of VmRSS over every pid whose process group is the one started, so
gunicorn's and Celery's forked children count with their parent) and of the chain node;
Redis's used_memory and key count; every table's pg_total_relation_size and exact row
count. Each sample is printed and appended to a CSV (long format: one row per value).

The verdict, from the --warmup-th sample (imports, caches and pools fill during the first
minutes) to the last:

- a memory series grows when its least-squares slope is above --max-slope MiB/min (1 by
  default) and a straight line explains most of it (R² >= 0.5): it keeps rising rather
  than stepping once. The chain node is reported but not judged: anvil keeps every block
  in memory, so it grows with the chain by design (Besu keeps them on disk).
- a table grows when it gained more than 1 MiB and either gained no rows (bloat: updates
  whose dead rows are not reclaimed) or each new row cost more than 3 times the table's average
  row size (size / rows at the end; indexes and TOAST included in both).

Last line ``soak: ok`` or ``soak: growth in <names>`` (exit status 1); ``soak: FAILED`` when
the load could not run (exit status 2).

    python bench/soak.py [--minutes 30] [--interval 60] [--rate 0.5] [--senders 2]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import redis
import requests

from bench.soak_samples import MIB, Sample, memory_by_group, print_sample, table_sizes, write_csv
from deploy.production.smoke import (
    BIN,
    ROOT,
    SmokeFailed,
    Stack,
    _lots_contract,
    _wait,
    smoke_stack,
)

OPEN_INCOMING = {"direction": "incoming", "status": "open", "page_size": "500"}
#: A table that gained less than this is not judged: PostgreSQL grows files by pages and
#: indexes by splits, so a small table's first rows cost far more than its average.
TABLE_FLOOR_BYTES = 1 * MIB
TABLE_ROW_FACTOR = 3.0
MIN_R2 = 0.5
#: Memory series sampled but not judged, and why.
NOT_JUDGED = {"anvil": "keeps every block in memory by design"}


class Stopped(Exception):
    """The soak is stopping: a cycle in flight gives up."""


# --- the load -------------------------------------------------------------------------


class Partner:
    """One organisation's API client over HTTPS."""

    def __init__(self, stack: Stack, token: str, stop: threading.Event) -> None:
        self.base = stack.env["SMOKE_BASE"]
        self.stop = stop
        self.session = requests.Session()
        self.session.verify = stack.env["SMOKE_CERT"]
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def write(self, path: str, body: dict[str, Any] | None = None) -> str:
        """POST a write and return its operation's URL; a dropped connection or a 429/5xx
        is retried with the same idempotency key, so the write happens once."""
        key = secrets.token_hex(12)
        answer: requests.Response | None = None
        for attempt in range(4):
            if self.stop.is_set():
                raise Stopped
            try:
                answer = self.session.post(
                    f"{self.base}{path}",
                    json=body or {},
                    headers={"Idempotency-Key": key},
                    timeout=30,
                )
            except requests.RequestException:
                time.sleep(1 + attempt)
                continue
            if answer.status_code == 202:
                url: str = answer.json()["url"]
                return url
            if answer.status_code != 429 and answer.status_code < 500:
                break
            time.sleep(float(answer.headers.get("Retry-After", 1 + attempt)))
        detail = f"{answer.status_code}: {answer.text[:200]}" if answer is not None else "no answer"
        raise SmokeFailed(f"{path} answered {detail}")

    def follow(self, url: str, deadline_s: float = 120) -> dict[str, Any]:
        """Poll an operation until it is confirmed."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            state: dict[str, Any] = self.session.get(url, timeout=30).json()
            if state["status"] == "confirmed":
                return state
            if state["status"] == "failed":
                raise SmokeFailed(f"operation failed: {state.get('error')}")
            if self.stop.wait(0.5):
                raise Stopped
        raise SmokeFailed(f"{url} not confirmed within {deadline_s:.0f} s")

    def open_incoming(self, lot_id: int, deadline_s: float = 60) -> int:
        """The id of the open handoff of `lot_id` to this organisation, once listed."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            listing = self.session.get(
                f"{self.base}/api/v1/handoffs",
                params=OPEN_INCOMING,
                timeout=30,
            ).json()
            for handoff in listing["results"]:
                if handoff["lot_id"] == lot_id:
                    return int(handoff["handoff_id"])
            if self.stop.wait(0.5):
                raise Stopped
        raise SmokeFailed(f"the handoff of lot {lot_id} was not listed within {deadline_s:.0f} s")


@dataclass
class Load:
    """Cycles (register → hand over → accept) started at a fixed rate from a thread."""

    senders: list[Partner]
    receiver: Partner
    receiver_slug: str
    rate: float
    in_flight_max: int
    stop: threading.Event = field(default_factory=threading.Event)
    started: int = 0
    done: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: seconds each finished cycle took, in the order they finished
    durations: list[float] = field(default_factory=list)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @property
    def operations(self) -> int:
        return 3 * self.done

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def cycle(self, sender: Partner) -> None:
        began = time.monotonic()
        try:
            lot = sender.follow(
                sender.write(
                    "/api/v1/lots/register",
                    {"name": "Cobalt ore", "quantity": 1000, "unit": "kg", "kind": "raw_material"},
                )
            )
            lot_id = int(lot["lot_id"])
            sender.follow(
                sender.write(
                    "/api/v1/handoffs/initiate",
                    {"lot_id": lot_id, "receiver": self.receiver_slug, "quantity": 1000},
                )
            )
            handoff_id = self.receiver.open_incoming(lot_id)
            self.receiver.follow(self.receiver.write(f"/api/v1/handoffs/{handoff_id}/accept"))
            with self._lock:
                self.done += 1
                self.durations.append(time.monotonic() - began)
        except Stopped:
            pass
        except (SmokeFailed, requests.RequestException, ValueError, KeyError) as exc:
            with self._lock:
                self.errors[type(exc).__name__ + ": " + str(exc)[:120]] += 1
        finally:
            with self._lock:
                self._in_flight -= 1

    def _run(self) -> None:
        with ThreadPoolExecutor(self.in_flight_max, thread_name_prefix="soak-cycle") as pool:
            began = time.monotonic()
            tick = 0
            while not self.stop.wait(max(0.0, began + tick / self.rate - time.monotonic())):
                with self._lock:
                    free = self._in_flight < self.in_flight_max
                    if free:
                        self._in_flight += 1
                        self.started += 1
                    else:
                        self.skipped += 1
                if free:
                    pool.submit(self.cycle, self.senders[tick % len(self.senders)])
                tick += 1
            pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-load")
        self._thread.start()

    def finish(self) -> None:
        """Stop starting cycles; those in flight give up at their next poll."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=90)


# --- the samples ----------------------------------------------------------------------


def take_sample(
    stack: Stack,
    conn: psycopg.Connection[Any],
    cache: redis.Redis,
    load: Load,
    began: float,
    previous: Sample | None,
) -> Sample:
    groups = memory_by_group(stack)
    recent = load.durations[previous.cycles_done if previous else 0 :]
    info: dict[str, Any] = cache.info("memory")
    return Sample(
        at_s=time.monotonic() - began,
        memory={name: total for name, (total, _) in groups.items()},
        pids={name: pids for name, (_, pids) in groups.items()},
        redis_bytes=int(info["used_memory"]),
        redis_keys=int(cache.dbsize()),
        tables=table_sizes(conn),
        operations=load.operations,
        skipped=load.skipped,
        errors=sum(load.errors.values()),
        in_flight=load.in_flight,
        cycles_done=len(load.durations),
        cycle_p50_s=statistics.median(recent) if recent else 0.0,
    )


# --- the verdict ----------------------------------------------------------------------


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope (y per x) and R² of `points`."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if len(points) < 3 or statistics.pvariance(xs) == 0:
        return 0.0, 0.0
    slope, intercept = statistics.linear_regression(xs, ys)
    total = sum((y - statistics.fmean(ys)) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
    return slope, (1 - residual / total) if total else 0.0


def judge_memory(samples: list[Sample], max_slope_mib: float) -> list[str]:
    """Print each memory series' growth after warm-up; the names that keep rising."""
    first, last = samples[0], samples[-1]
    minutes = (last.at_s - first.at_s) / 60
    series: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        for name, total in s.memory.items():
            series.setdefault(name, []).append((s.at_s / 60, total / MIB))
        series.setdefault("redis used_memory", []).append((s.at_s / 60, s.redis_bytes / MIB))
    grown = []
    print(f"\nmemory from {first.at_s / 60:.1f} to {last.at_s / 60:.1f} min "
          f"(threshold: slope > {max_slope_mib} MiB/min with R² >= {MIN_R2}):")  # fmt: skip
    for name, points in sorted(series.items()):
        start, end = points[0][1], points[-1][1]
        slope, r2 = fit(points)
        recycled = ""
        if name in first.pids:
            new = len(set().union(*(s.pids.get(name, set()) for s in samples)) - first.pids[name])
            recycled = f", {new} new pids" if new else ""
        rises = slope > max_slope_mib and r2 >= MIN_R2
        verdict = (f"not judged ({NOT_JUDGED[name]})" if name in NOT_JUDGED
                   else "GROWS" if rises else "ok")  # fmt: skip
        print(f"  {name:<20} {start:8.1f} → {end:8.1f} MiB  "
              f"{(end - start) / minutes if minutes else 0:+6.2f} MiB/min "
              f"({(end - start) / start if start else 0:+.1%}), "
              f"fit {slope:+.2f} MiB/min R² {r2:.2f}{recycled}: {verdict}")  # fmt: skip
        if rises and name not in NOT_JUDGED:
            grown.append(name)
    return grown


def judge_tables(samples: list[Sample], top: int) -> list[str]:
    """Print bytes per new row of the tables that changed; the names that grew beyond
    their rows."""
    first, last = samples[0].tables, samples[-1].tables
    changed = []
    for name, (size, rows) in last.items():
        size0, rows0 = first.get(name, (0, 0))
        if size != size0 or rows != rows0:
            changed.append((size - size0, rows - rows0, size, rows, name))
    changed.sort(reverse=True)
    grown = []
    print(f"\ntables (threshold: > {TABLE_FLOOR_BYTES // MIB} MiB gained and no new rows or "
          f"> {TABLE_ROW_FACTOR:.0f} times the average row per new row):")  # fmt: skip
    for index, (added_bytes, added_rows, size, rows, name) in enumerate(changed):
        average = size / rows if rows else 0.0
        per_new = added_bytes / added_rows if added_rows > 0 else float("inf")
        judged = added_bytes > TABLE_FLOOR_BYTES
        bad = judged and (added_rows <= 0 or per_new > TABLE_ROW_FACTOR * average)
        if bad:
            grown.append(name)
        if index >= top and not bad:
            continue  # the rest gained less: the CSV holds them
        print(f"  {name:<36} {added_bytes / 1024:+9.0f} KiB {added_rows:+8} rows  "
              f"{per_new:8.0f} B/new row, average {average:6.0f} B/row: "
              f"{'GROWS' if bad else 'ok' if judged else 'too small to judge'}")  # fmt: skip
    return grown


# --- the run --------------------------------------------------------------------------


def add_member(stack: Stack, slug: str, roles: str) -> dict[str, str]:
    name = slug.replace("-", " ").title()
    argv = [str(BIN / "python"), "manage.py", "add_organisation", "--slug", slug,
            "--name", name, "--roles", roles, "--admin", f"{slug}-admin"]  # fmt: skip
    found: dict[str, str] = json.loads(stack.run(argv))
    return found


def prepare_load(stack: Stack, args: argparse.Namespace) -> Load:
    members = [json.loads(stack.env["SMOKE_MEMBER"])]
    members += [add_member(stack, f"soak-mine-{n}", "MINER") for n in range(2, args.senders + 1)]
    refinery = add_member(stack, "soak-refinery", "MANUFACTURER")
    lots = _lots_contract(stack)
    for m in (*members, refinery):

        def registered(address: str = m["address"]) -> bool:
            return bool(lots.functions.isRegistered(address).call())

        _wait(f"{m['address']} registered", registered, deadline_s=120)
    stop = threading.Event()
    receiver = Partner(stack, refinery["token"], stop)
    _wait(
        "ready",
        lambda: receiver.session.get(f"{receiver.base}/health/ready", timeout=60).ok,
        deadline_s=120,
    )
    return Load(
        senders=[Partner(stack, m["token"], stop) for m in members],
        receiver=receiver,
        receiver_slug="soak-refinery",
        rate=args.rate,
        in_flight_max=args.in_flight,
        stop=stop,
    )


def soak(stack: Stack, args: argparse.Namespace, out: Path) -> list[Sample]:
    load = prepare_load(stack, args)
    count = int(args.minutes * 60 // args.interval) + 1
    samples: list[Sample] = []
    with (
        psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as conn,
        redis.Redis.from_url(stack.env["REDIS_URL"], socket_timeout=10) as cache,
    ):
        began = time.monotonic()
        load.start()
        try:
            for index in range(count):
                # the samples keep to the clock: a slow sample does not push the rest later
                if load.stop.wait(max(0.0, began + index * args.interval - time.monotonic())):
                    break
                stack.check_alive()
                previous = samples[-1] if samples else None
                samples.append(take_sample(stack, conn, cache, load, began, previous))
                write_csv(out, samples[-1])
                print_sample(index + 1, samples[-1], args.top)
                sys.stdout.flush()
        finally:
            load.finish()
    print(f"\nload: {load.started} cycles started at {args.rate}/s, {load.done} done "
          f"({load.operations} operations confirmed), {load.skipped} ticks skipped "
          f"(all {args.in_flight} cycles busy), {sum(load.errors.values())} errors; a cycle's "
          f"median {statistics.median(load.durations or [0]):.1f} s")  # fmt: skip
    for message, times in load.errors.most_common(5):
        print(f"  {times} x {message}")
    if load.done == 0 or sum(load.errors.values()) > load.done // 10:
        raise SmokeFailed("the load did not run: see the errors above")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=60, help="seconds between samples")
    parser.add_argument("--rate", type=float, default=0.5, help="cycles started per second")
    parser.add_argument("--senders", type=int, default=2, help="members handing lots over")
    parser.add_argument("--in-flight", type=int, default=16, help="most cycles at once")
    parser.add_argument(
        "--warmup", type=int, default=3, help="the sample growth is measured from (1-based)"
    )
    parser.add_argument("--max-slope", type=float, default=1.0, help="MiB/min a process may gain")
    parser.add_argument("--top", type=int, default=8, help="largest tables printed")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.csv or ROOT / "var" / "soak" / f"soak-{stamp}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    print(f"samples: {out}", flush=True)
    try:
        with smoke_stack(keep=False) as stack:
            samples = soak(stack, args, out)
    except SmokeFailed as exc:
        print(f"soak: FAILED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted (the stack is stopped)", file=sys.stderr)
        return 130
    after = samples[min(args.warmup, len(samples)) - 1 :]
    if len(after) < 3:
        print(f"soak: FAILED: {len(after)} samples after warm-up (3 needed): run longer")
        return 2
    print(f"samples: {out}")
    grown = judge_memory(after, args.max_slope) + judge_tables(after, args.top)
    print("soak: ok" if not grown else f"soak: growth in {', '.join(grown)}")
    return 1 if grown else 0


if __name__ == "__main__":
    sys.exit(main())
