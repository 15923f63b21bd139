"""The mirror pipeline on a real anvil and PostgreSQL: a throwaway consumer of the event
store sees every event exactly once, survives a crash inside its batch, is rolled back by a
reorganisation, and is parked when it raises while the others keep up; an operation reads
"confirmed" only once its lot is visible in the portal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.network import PASSWORD, Network
from webapp.chain.consumers import consumer_register, consumer_unregister
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import Block, ChainEvent, ConsumerCursor
from webapp.chain.pipeline import chain_sync, consumer_unpark
from webapp.lots.services import lot_register
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send, operation_track
from webapp.projections import projector as projector_module
from webapp.projections.models import LotVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


class Crash(BaseException):
    """What a killed process looks like to the transaction: it never commits."""


class Recorder:
    """A throwaway consumer: writes one row per event it applies into its own table."""

    kinds: frozenset[str] | None = None
    after: tuple[str, ...] = ()

    def __init__(self, name: str, calls: list[tuple[str, int]] | None = None) -> None:
        self.name = name
        self.crash_after: int | None = None  # events written in a batch before it "dies"
        self.refuse_lot: int | None = None  # a LotRegistered it raises on
        self.calls = calls if calls is not None else []

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        with connection.cursor() as cursor:
            for done, event in enumerate(events, start=1):
                if event.event == "LotRegistered" and event.args["lotId"] == self.refuse_lot:
                    raise ValueError(f"cannot handle lot {self.refuse_lot}")
                cursor.execute(
                    "INSERT INTO pipeline_seen (consumer, event_id, block_number)"
                    " VALUES (%s, %s, %s)",
                    [self.name, event.id, event.block_number],
                )
                if self.crash_after is not None and done == self.crash_after:
                    self.crash_after = None
                    raise Crash

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        self.calls.append((self.name, to_block))
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM pipeline_seen WHERE consumer = %s AND block_number > %s",
                [self.name, to_block],
            )

    def seen(self) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT event_id FROM pipeline_seen WHERE consumer = %s ORDER BY event_id",
                [self.name],
            )
            return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    """Two throwaway consumers registered after the product's own, and their table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE pipeline_seen (consumer text, event_id bigint, block_number bigint)"
        )
    calls: list[tuple[str, int]] = []
    made = [Recorder("recorder", calls), Recorder("bystander", calls)]
    for recorder in made:
        consumer_register(recorder)
    yield made
    for recorder in made:
        consumer_unregister(name=recorder.name)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE pipeline_seen")


def sync(w3: Web3, manifest: Manifest, batch: int = 2000) -> None:
    chain_sync(indexer=ChainIndexer(w3, manifest), batch=batch)


def all_events() -> list[int]:
    return list(ChainEvent.objects.order_by("id").values_list("id", flat=True))


def cursor(name: str) -> ConsumerCursor:
    return ConsumerCursor.objects.get(name=name)


def some_lots(c: Consortium, n: int) -> list[int]:
    return [c.register_lot(c.miner) for _ in range(n)]  # one block each


def projected_lots() -> set[int]:
    return {int(x) for x in LotVersion.objects.values_list("lot_id", flat=True)}


def stored_lots() -> set[int]:
    return {
        int(x)
        for x in ChainEvent.objects.filter(event="LotRegistered").values_list(
            "args__lotId", flat=True
        )
    }


def test_a_consumer_receives_every_event_exactly_once(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    recorder, _ = recorders
    some_lots(chain, 3)
    sync(w3, manifest, batch=4)  # several batches, the last one short
    some_lots(chain, 2)
    sync(w3, manifest, batch=4)
    sync(w3, manifest, batch=4)  # nothing new: nothing applied again

    assert len(all_events()) > 8
    assert recorder.seen() == all_events()
    assert cursor("recorder").event_id == all_events()[-1]


def test_consumers_after_the_projections_reach_the_head_in_the_same_run(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    """A backlog of many batches: a consumer that follows the projections (as operation
    confirmation does) keeps its turn until the head, not one batch per run."""
    follower = Recorder("follower")
    follower.after = ("projections",)
    consumer_register(follower)
    try:
        some_lots(chain, 6)
        sync(w3, manifest, batch=2)  # one run over many batches
        assert len(all_events()) > 6
        assert follower.seen() == all_events()
        for name in ("projections", "operations", "notifications", "follower"):
            assert cursor(name).event_id == all_events()[-1], name
    finally:
        consumer_unregister(name="follower")


def test_a_crash_inside_a_batch_replays_the_batch_and_doubles_nothing(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    recorder, bystander = recorders
    some_lots(chain, 2)
    sync(w3, manifest)
    before = cursor("recorder").event_id
    some_lots(chain, 3)
    recorder.crash_after = 2  # it writes two rows of the batch, then the process "dies"

    with pytest.raises(Crash):
        sync(w3, manifest)

    # Nothing of the crashed batch was kept, and its cursor did not move.
    assert cursor("recorder").event_id == before
    assert recorder.seen() == [e for e in all_events() if e <= before]
    # The next run replays the batch: every event once.
    sync(w3, manifest)
    assert recorder.seen() == all_events()
    assert bystander.seen() == all_events()


def test_a_depth_3_reorg_rolls_the_consumers_back_last_registered_first(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    recorder, bystander = recorders
    c = chain
    some_lots(c, 2)
    doomed = some_lots(c, 3)
    sync(w3, manifest)
    head = w3.eth.block_number
    fork = Block.objects.filter(number__lte=head - 3).order_by("-number").first()
    assert fork is not None
    assert doomed[0] in projected_lots()

    replacement = c.new_id()
    call = c.lots.functions.registerLot(replacement, 5, LotKind.PRODUCT, H1, H2)
    raw = (
        "0x"
        + c.maker.sign_transaction(build_transaction(w3, c.maker.address, call, gas=300_000)).hex()
    )
    w3.provider.make_request("anvil_reorg", [3, [[raw, 0]]])  # type: ignore[arg-type]
    sync(w3, manifest)

    # Each throwaway consumer was rolled back once, to the fork, the later one first.
    assert recorder.calls == [("bystander", fork.number), ("recorder", fork.number)]
    assert recorder.seen() == all_events()
    assert bystander.seen() == all_events()
    assert not set(doomed) & stored_lots()
    assert replacement in stored_lots()
    assert projected_lots() == stored_lots()


def test_a_consumer_that_raises_is_parked_and_the_others_keep_up(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    recorder, bystander = recorders
    c = chain
    first = some_lots(c, 1)[0]
    bad, after_bad = some_lots(c, 2)
    recorder.refuse_lot = bad

    sync(w3, manifest)

    parked = cursor("recorder")
    bad_event = ChainEvent.objects.get(event="LotRegistered", args__lotId=bad)
    assert parked.parked
    assert parked.parked_event_id == bad_event.id
    assert f"cannot handle lot {bad}" in parked.error
    # What came before the event that broke it is kept; nothing after it.
    assert recorder.seen() == [e for e in all_events() if e < bad_event.id]
    # The projections and the other consumers are at the head.
    assert projected_lots() == {first, bad, after_bad}
    for name in ("projections", "operations", "notifications", "bystander"):
        assert cursor(name).event_id == all_events()[-1], name
    assert bystander.seen() == all_events()

    metrics = Client().get("/metrics").content.decode()
    assert (
        f'provenant_consumer_parked{{chain_id="{manifest.chain_id}",name="recorder"}} 1' in metrics
    )
    assert (
        f'provenant_consumer_parked{{chain_id="{manifest.chain_id}",name="bystander"}} 0' in metrics
    )
    assert Client().get("/health/indexer").status_code == 503

    # Parked, it stays where it is while the chain goes on.
    later = some_lots(c, 1)[0]
    sync(w3, manifest)
    assert recorder.seen() == [e for e in all_events() if e < bad_event.id]
    assert later in projected_lots()

    # An administrator un-parks it from the chain admin once the cause is fixed: it
    # resumes at the event that stopped it.
    recorder.refuse_lot = None
    get_user_model().objects.create_superuser("root", "root@example.org", "a-long-Root-pass-9")
    client = Client()
    assert client.login(username="root", password="a-long-Root-pass-9")
    response = client.post(
        reverse("admin:chain_consumercursor_changelist"),
        {"action": "unpark", "_selected_action": [parked.pk], "index": 0},
    )
    assert response.status_code == 302
    assert not cursor("recorder").parked
    sync(w3, manifest)
    assert recorder.seen() == all_events()


def test_unparking_a_consumer_that_still_raises_parks_it_again_at_the_same_event(
    chain: Consortium, w3: Web3, manifest: Manifest, recorders: list[Recorder]
) -> None:
    recorder, _ = recorders
    recorder.refuse_lot = some_lots(chain, 1)[0]
    sync(w3, manifest)
    stopped_at = cursor("recorder").parked_event_id
    consumer_unpark(chain_id=manifest.chain_id, name="recorder")
    sync(w3, manifest)
    assert cursor("recorder").parked
    assert cursor("recorder").parked_event_id == stopped_at


def _send(operation: Operation) -> None:
    with contextlib.suppress(SubmitLater):  # the node took it; tracking finds it
        operation_send(operation_id=operation.id)
    operation_track(operation_id=operation.id)


def test_an_operation_reads_confirmed_only_once_its_lot_is_visible_in_the_portal(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = Client()
    assert mine.login(username="mine", password=PASSWORD)
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=5, unit="kg")
    _send(operation)

    # The projections cannot show the lot (their handler breaks): it is mirrored, the
    # projections are parked, and the operation must not claim it is done.
    real = projector_module.HANDLERS["LotRegistered"]

    def broken(*args: Any) -> None:
        raise RuntimeError("projection handler broke")

    monkeypatch.setitem(projector_module.HANDLERS, "LotRegistered", broken)
    network.index()
    operation.refresh_from_db()
    lot_id = int(operation.lot_id or 0)
    assert ChainEvent.objects.filter(event="LotRegistered", args__lotId=lot_id).exists()
    assert cursor("projections").parked
    assert operation.status != Operation.Status.CONFIRMED
    assert not LotVersion.objects.filter(lot_id=lot_id).exists()
    page = mine.get(reverse("portal:lot", args=[lot_id]))  # not shown: sent to the operation
    assert page.status_code == 302
    assert str(operation.id) in page["Location"]

    # Fixed and un-parked: the lot shows, and only then the operation is confirmed.
    monkeypatch.setitem(projector_module.HANDLERS, "LotRegistered", real)
    consumer_unpark(chain_id=network.manifest.chain_id, name="projections")
    network.index()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED
    assert LotVersion.objects.filter(lot_id=lot_id).exists()
    assert mine.get(reverse("portal:lot", args=[lot_id])).status_code == 200
