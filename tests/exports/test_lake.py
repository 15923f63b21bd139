"""The Parquet lake over a stored event history: layout, manifests, verification,
reorg retractions read through the DuckDB view, and a backfill that resumes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from eth_utils import to_checksum_address

from webapp.chain.indexer import chain_running_hash
from webapp.chain.models import ChainEvent, ConsumerCursor
from webapp.chain.pipeline import consumer_catch_up, consumer_rollback
from webapp.exports.lake.consumer import LakeExport
from webapp.exports.lake.models import LakeExportProgress
from webapp.exports.lake.storage import lake_open, partitions
from webapp.exports.lake.verify import lake_verify
from webapp.exports.lake.views import views_sql

pytestmark = pytest.mark.django_db

CHAIN = 31337
DAY = datetime(2026, 3, 1, 23, 59, 50, tzinfo=UTC)


def store(blocks: int, per_block: int = 2, first_block: int = 1) -> list[ChainEvent]:
    """Events in `blocks` blocks, two kinds, the blocks crossing a day boundary."""
    last = ChainEvent.objects.order_by("-id").first()
    running = last.running_hash if last else "0x" + "00" * 32
    made = []
    for b in range(first_block, first_block + blocks):
        for i in range(per_block):
            content = "0x" + f"{b:032x}{i:032x}"
            running = chain_running_hash(running, content)
            made.append(
                ChainEvent.objects.create(
                    chain_id=CHAIN,
                    block_number=b,
                    block_hash="0x" + f"{b:064x}",
                    block_timestamp=DAY + timedelta(seconds=5 * b),
                    transaction_hash="0x" + f"{b * 10 + i:064x}",
                    transaction_index=i,
                    log_index=i,
                    contract="Lots",
                    address="0x" + "ab" * 20,
                    event="LotRegistered" if i == 0 else "Transfer",
                    args={"lotId": str(2**255 + b), "quantity": "5"},
                    content_hash=content,
                    running_hash=running,
                )
            )
    return made


@pytest.fixture
def lake_dir(tmp_path: Path, settings: Any) -> Path:
    settings.LAKE_URL = str(tmp_path / "lake")
    settings.CHAIN_ID = CHAIN
    return tmp_path / "lake"


def files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_events_land_in_kind_and_date_partitions_with_manifests(lake_dir: Path) -> None:
    store(4)
    consumer_catch_up(consumer=LakeExport(), chain_id=CHAIN, batch=3)
    kinds = {p.parent.parent.name for p in files(lake_dir / "events")}
    days = {p.parent.name for p in files(lake_dir / "events")}
    assert kinds == {"kind=LotRegistered", "kind=Transfer"}
    assert days == {"date=2026-03-01", "date=2026-03-02"}
    table = pq.read_table(files(lake_dir / "events")[0])
    assert table.schema.field("block_timestamp").type.tz == "UTC"
    row = table.to_pylist()[0]
    assert row["address"] == to_checksum_address("0x" + "ab" * 20) != "0x" + "ab" * 20
    assert json.loads(row["args"])["lotId"] == str(2**255 + row["block_number"])
    manifest = json.loads((files(lake_dir / "events")[0].parent / "_manifest.json").read_text())
    entry = manifest["files"][0]
    assert {"rows", "from_block", "to_block", "sha256", "running_hash"} <= set(entry)
    total = sum(
        f["rows"]
        for p in partitions(lake_open(str(lake_dir)), "events")
        for f in json.loads((lake_dir / p / "_manifest.json").read_text())["files"]
    )
    assert total == 8
    assert lake_verify(lake_open(str(lake_dir))) == []
    call_command("verify_lake")
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{lake_dir}'")
    con.execute((lake_dir / "views.sql").read_text())  # no retractions yet: all rows clean
    assert con.execute("SELECT count(*) FROM lake_events").fetchone() == (8,)


def test_a_replayed_batch_after_a_crash_writes_no_duplicate(lake_dir: Path) -> None:
    events = store(3)
    LakeExport().apply(events, chain_id=CHAIN)  # written, but the cursor did not move
    before = [(p, p.read_bytes()) for p in files(lake_dir)]
    consumer_catch_up(consumer=LakeExport(), chain_id=CHAIN, batch=100)  # the replay
    assert [(p, p.read_bytes()) for p in files(lake_dir)] == before
    con = duckdb.connect()
    count = con.execute(
        f"SELECT count(*) FROM read_parquet('{lake_dir}/events/v1/*/*/*.parquet')"
    ).fetchone()
    assert count == (6,)
    assert lake_verify(lake_open(str(lake_dir))) == []


@pytest.mark.parametrize("damage", ["alter", "remove", "extra", "row"])
def test_verify_lake_fails_on_an_altered_missing_or_extra_file(lake_dir: Path, damage: str) -> None:
    store(3)
    consumer_catch_up(consumer=LakeExport(), chain_id=CHAIN, batch=100)
    target = files(lake_dir)[0]
    if damage == "alter":
        target.write_bytes(target.read_bytes()[:-9] + b"x" + target.read_bytes()[-8:])
    elif damage == "remove":
        target.unlink()
    elif damage == "extra":
        (target.parent / "31337-9-9-99.parquet").write_bytes(target.read_bytes())
    else:
        ChainEvent.objects.filter(id=ChainEvent.objects.first().id).update(  # type: ignore[union-attr]
            content_hash="0x" + "ff" * 32
        )
    with pytest.raises(CommandError, match="does not match"):
        call_command("verify_lake")


def test_a_reorg_writes_retractions_and_the_duckdb_view_hides_them(lake_dir: Path) -> None:
    store(4)
    consumer_catch_up(consumer=LakeExport(), chain_id=CHAIN, batch=100)
    consumer_rollback(consumer=LakeExport(), chain_id=CHAIN, to_block=2)
    ChainEvent.objects.filter(chain_id=CHAIN, block_number__gt=2).delete()
    store(1, first_block=3)  # the new block 3 (same hash here: another log index set)
    ChainEvent.objects.filter(block_number=3).update(block_hash="0x" + "cc" * 32)
    consumer_catch_up(consumer=LakeExport(), chain_id=CHAIN, batch=100)

    retracted = pq.read_table(files(lake_dir / "retractions")[0]).to_pylist()
    assert sorted(r["block_number"] for r in retracted) == [3, 3, 4, 4]
    assert {r["generation"] for r in retracted} == {2}
    manifests = [json.loads(p.read_text()) for p in lake_dir.rglob("_manifest.json")]
    assert any(m["generation"] == 2 for m in manifests)
    assert (lake_dir / "views.sql").read_text() == views_sql()

    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{lake_dir}'")
    con.execute((lake_dir / "views.sql").read_text())
    clean = con.execute(
        "SELECT block_number, block_hash FROM lake_events ORDER BY block_number, log_index"
    ).fetchall()
    assert [b for b, _ in clean] == [1, 1, 2, 2, 3, 3]
    assert clean[-1][1] == "0x" + "cc" * 32
    raw = con.execute("SELECT count(*) FROM lake_events_all").fetchone()
    assert raw == (10,)
    assert lake_verify(lake_open(str(lake_dir))) == []


def test_the_backfill_resumes_after_an_interruption_without_duplicates(
    lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(10)
    calls = {"n": 0}
    real = LakeExport.apply

    def dies_on_the_third(self: LakeExport, events: Any, *, chain_id: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            real(self, events, chain_id=chain_id)  # the files are written, then the kill
            raise KeyboardInterrupt
        real(self, events, chain_id=chain_id)

    monkeypatch.setattr(LakeExport, "apply", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        call_command("export_lake", batch=4)
    cursor = ConsumerCursor.objects.get(chain_id=CHAIN, name="lake")
    assert 0 < cursor.event_id < ChainEvent.objects.order_by("-id").first().id  # type: ignore[union-attr]
    progress = LakeExportProgress.objects.get(name="lake")
    assert progress.total == 20
    assert not progress.finished

    monkeypatch.setattr(LakeExport, "apply", real)
    call_command("export_lake", batch=4)
    progress.refresh_from_db()
    assert (progress.done, progress.total, progress.finished) == (20, 20, True)
    con = duckdb.connect()
    ids = con.execute(
        f"SELECT id FROM read_parquet('{lake_dir}/events/v1/*/*/*.parquet') ORDER BY id"
    ).fetchall()
    assert [i for (i,) in ids] == list(
        ChainEvent.objects.order_by("id").values_list("id", flat=True)
    )
    call_command("verify_lake")


def test_off_without_a_lake_url(settings: Any, tmp_path: Path) -> None:
    settings.LAKE_URL = ""
    LakeExport().apply(store(1), chain_id=CHAIN)
    assert not list(tmp_path.rglob("*"))
    with pytest.raises(CommandError, match="no lake"):
        call_command("verify_lake")


def test_the_lake_writes_through_fsspec_memory(settings: Any) -> None:
    settings.LAKE_URL = "memory://lake-test"
    events = store(2)
    LakeExport().apply(events, chain_id=CHAIN)
    lake = lake_open("memory://lake-test")
    assert len(partitions(lake, "events")) == 4  # two kinds, two days
    assert lake_verify(lake) == []
    lake.fs.rm(lake.root, recursive=True)
