"""What one sample of `bench/soak.py` holds, and how it is read, written and shown: each
started process group's resident memory (from /proc), every table's size and row count,
Redis's memory, and how far the load has got."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from deploy.production.smoke import Stack

MIB = 1024 * 1024
#: Tables whose row counts every sample prints (the ones a handoff writes to).
MAIN_TABLES = (
    "operations_operation",
    "chain_chainevent",
    "chain_block",
    "projections_lotversion",
    "projections_handoffversion",
)


def _processes() -> Iterator[tuple[int, int, int, str]]:
    """(pid, parent pid, process group, command name) of every process (/proc/<pid>/stat)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone since the listing
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        yield int(entry.name), int(fields[1]), int(fields[2]), name


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0  # gone, or a zombie (no VmRSS line)


def memory_by_group(stack: Stack) -> dict[str, tuple[int, set[int]]]:
    """Each started process group's summed RSS and its pids; the chain node (a child of
    this process, in this process's group) by itself."""
    group_names = {proc.pid: name for name, proc in stack.procs.items()}
    found: dict[str, tuple[int, set[int]]] = {}
    for pid, ppid, pgid, command in _processes():
        name = group_names.get(pgid)
        if name is None and ppid == os.getpid() and command == "anvil":
            name = "anvil"
        if name is None:
            continue
        total, pids = found.get(name, (0, set()))
        found[name] = (total + _rss_bytes(pid), pids | {pid})
    return found


def table_sizes(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    """(bytes with indexes and TOAST, exact rows) of every table of the app's schemas."""
    tables = conn.execute(
        """
        SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
               CASE WHEN n.nspname = 'public' THEN c.relname
                    ELSE n.nspname || '.' || c.relname END,
               pg_total_relation_size(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        """
    ).fetchall()
    if not tables:
        return {}
    # one statement, so every count is of the same snapshot
    counts = " UNION ALL ".join(
        f"SELECT {i}, count(*) FROM {quoted}" for i, (quoted, _, _) in enumerate(tables)
    )
    rows = dict(conn.execute(counts).fetchall())
    return {name: (int(size), int(rows[i])) for i, (_, name, size) in enumerate(tables)}


@dataclass
class Sample:
    at_s: float
    memory: dict[str, int]
    pids: dict[str, set[int]]
    redis_bytes: int
    redis_keys: int
    tables: dict[str, tuple[int, int]]
    operations: int
    skipped: int
    errors: int
    in_flight: int
    cycles_done: int
    #: median seconds of the cycles that finished since the previous sample
    cycle_p50_s: float


def write_csv(path: Path, sample: Sample) -> None:
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.writer(out)
        if new:
            writer.writerow(["at_s", "kind", "name", "value"])
        at = f"{sample.at_s:.1f}"
        for name, total in sorted(sample.memory.items()):
            writer.writerow([at, "rss_bytes", name, total])
            writer.writerow([at, "processes", name, len(sample.pids[name])])
        writer.writerow([at, "redis", "used_memory_bytes", sample.redis_bytes])
        writer.writerow([at, "redis", "keys", sample.redis_keys])
        for name, (size, rows) in sorted(sample.tables.items()):
            writer.writerow([at, "table_bytes", name, size])
            writer.writerow([at, "table_rows", name, rows])
        writer.writerow([at, "load", "operations_confirmed", sample.operations])
        writer.writerow([at, "load", "ticks_skipped", sample.skipped])
        writer.writerow([at, "load", "cycle_errors", sample.errors])
        writer.writerow([at, "load", "cycles_in_flight", sample.in_flight])
        writer.writerow([at, "load", "cycle_p50_s", f"{sample.cycle_p50_s:.2f}"])


def print_sample(index: int, sample: Sample, top: int) -> None:
    print(f"\n# sample {index} at {sample.at_s / 60:.1f} min: {sample.operations} operations "
          f"confirmed, {sample.in_flight} cycles in flight (median {sample.cycle_p50_s:.1f} s "
          f"since the last sample), {sample.skipped} ticks skipped, {sample.errors} cycle "
          "errors")  # fmt: skip
    memory = "  ".join(
        f"{name} {total / MIB:.1f}({len(sample.pids[name])})"
        for name, total in sorted(sample.memory.items())
    )
    print(f"  RSS MiB (processes): {memory}")
    print(f"  redis used_memory {sample.redis_bytes / MIB:.2f} MiB, {sample.redis_keys} keys")
    largest = sorted(sample.tables.items(), key=lambda item: -item[1][0])[:top]
    shown = dict(largest) | {t: sample.tables[t] for t in MAIN_TABLES if t in sample.tables}
    width = max(len(name) for name in shown)
    for name, (size, rows) in sorted(shown.items(), key=lambda item: -item[1][0]):
        print(f"  {name:<{width}}  {size / 1024:>9.0f} KiB  {rows:>8} rows")
