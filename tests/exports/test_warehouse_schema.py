"""The warehouse's models match the tables its migration creates, the diagram shows every
table and relation, and a refresh killed mid-way resumes without doubling a row."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from tests.exports.test_lake import CHAIN, store
from webapp.chain.models import ChainEvent, ConsumerCursor
from webapp.exports.warehouse.consumer import WarehouseRefresh
from webapp.exports.warehouse.diagram import warehouse_mermaid
from webapp.exports.warehouse.models import DimLot, WarehouseProgress
from webapp.exports.warehouse.schema import TABLES
from webapp.projections.models import LotVersion

pytestmark = pytest.mark.django_db


def test_every_model_matches_its_table_column_for_column() -> None:
    from webapp.exports.warehouse.diagram import _tables

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'reporting'"
        )
        columns: dict[str, set[str]] = {}
        for table, column in cursor.fetchall():
            columns.setdefault(table, set()).add(column)
    models = {m._meta.db_table.split('"."')[1]: m for m in _tables()}
    assert set(models) == set(TABLES)
    for table, model in models.items():
        assert {f.column for f in model._meta.concrete_fields if f.column} == columns[table], table
    diagram = warehouse_mermaid()
    for table in TABLES:
        assert f"    {table.upper()} {{" in diagram
    assert "DIM_LOT ||--o{ FACT_HANDOFF : lot_key" in diagram
    assert "DIM_ORGANISATION ||--o{ FACT_HANDOFF : receiver_key" in diagram


def test_a_refresh_killed_mid_way_resumes_without_duplicates(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAIN_ID = CHAIN
    events = store(10)
    for event in events:
        if event.event == "LotRegistered":
            LotVersion.objects.create(
                chain_id=CHAIN, block_from=event.block_number, log_from=event.log_index,
                lot_id=int(event.args["lotId"]), kind=1, creator="0x" + "ab" * 20,
                quantity=5, metadata_hash="0x" + "11" * 32, gs1_key_hash="0x" + "22" * 32,
            )  # fmt: skip
    last = ChainEvent.objects.order_by("-id").values_list("id", flat=True).first()
    ConsumerCursor.objects.create(chain_id=CHAIN, name="projections", event_id=last)
    calls = {"n": 0}
    real = WarehouseRefresh.apply

    def dies_on_the_third(self: WarehouseRefresh, events: Any, *, chain_id: int) -> None:
        calls["n"] += 1
        real(self, events, chain_id=chain_id)  # the rows are written, then the kill
        if calls["n"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(WarehouseRefresh, "apply", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        call_command("refresh_warehouse", batch=4)
    cursor = ConsumerCursor.objects.get(chain_id=CHAIN, name="warehouse")
    assert 0 < cursor.event_id < last  # the third batch rolled back with its cursor
    progress = WarehouseProgress.objects.get(name="warehouse")
    assert (progress.total, progress.finished) == (20, False)
    assert DimLot.objects.count() == 4  # two batches of two registrations

    monkeypatch.setattr(WarehouseRefresh, "apply", real)
    call_command("refresh_warehouse", batch=4)
    progress.refresh_from_db()
    assert (progress.done, progress.total, progress.finished) == (20, 20, True)
    lots = sorted(int(i) for i in DimLot.objects.values_list("lot_id", flat=True))
    assert lots == sorted(int(e.args["lotId"]) for e in events if e.event == "LotRegistered")


def test_the_refresh_command_says_plainly_what_it_cannot_do(settings: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch must be at least 1"):
        call_command("refresh_warehouse", batch=0)
