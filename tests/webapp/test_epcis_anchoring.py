"""Every captured EPCIS event is provable: batched under a Merkle root anchored on chain,
each event's proof checked by the offline verifier (`python -m contracts.proofs.verify`)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils import timezone

from contracts.chain.artifacts import load
from tests.webapp.network import Network
from tests.webapp.test_epcis_capture import (
    _gs1_identities,
    commissioning,
    document,
    observation,
    shipping,
    token_client,
)
from webapp.epcis import anchoring
from webapp.epcis.anchoring import NotAnchored, epcis_anchor, epcis_event_proof
from webapp.epcis.capture import capture_document
from webapp.epcis.models import EpcisAnchorBatch, EpcisEvent
from webapp.lots.selectors.scope import stock_scope
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.passport.evidence import evidence_pack
from workers import tasks

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]


def _capture(net: Network, count: int, slug: str = "mine") -> list[EpcisEvent]:
    events = [
        {
            **observation(minute=i, epc=f"urn:epc:id:sgtin:4012345.011111.{len(slug)}{2000 + i}"),
            "eventID": f"urn:uuid:7c5a3e0e-0000-4000-8000-{slug[:4].encode().hex()}{i:04d}",
        }
        for i in range(count)
    ]
    job = capture_document(organisation=net.orgs[slug], document=document(*events))
    assert job.captured_count == count, job.errors
    return list(EpcisEvent.objects.filter(organisation=net.orgs[slug]).order_by("id"))


def _anchored_at(net: Network, anchorer: str, root: str) -> int:
    anchors = net.w3.eth.contract(
        address=net.manifest.addresses["Anchors"], abi=load("Anchors").abi
    )
    return int(anchors.functions.anchoredAt(anchorer, root).call())


def _verify(proof: dict[str, Any], tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(proof))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "contracts.proofs.verify",
            str(path),
            "--rpc",
            settings.CHAIN_RPC_URL,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_captured_events_are_anchored_and_each_proof_verifies(
    network: Network, tmp_path: Path
) -> None:
    events = _capture(network, 3)
    with pytest.raises(NotAnchored, match="not in an anchored batch yet"):
        epcis_event_proof(events[0])

    # Due by age: the oldest waited longer than the limit.
    later = timezone.now() + timedelta(seconds=settings.EPCIS_ANCHOR_MAX_WAIT_SECONDS + 1)
    (batch,) = epcis_anchor(now=later)
    assert batch.item_count == 3
    assert batch.items == [{"eventHash": e.event_hash, "eventID": e.event_id} for e in events]
    assert set(EpcisEvent.objects.filter(anchor_batch=batch)) == set(events)
    operation = batch.operation
    assert operation is not None
    assert operation.call["function"] == "anchor"
    assert operation.sender == network.orgs["mine"].address

    with pytest.raises(NotAnchored, match="not anchored on chain yet"):
        epcis_event_proof(events[0])

    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert epcis_anchor(now=later) == []
    batch.refresh_from_db()
    assert batch.anchor_transaction_hash == operation.transaction_hash
    assert batch.anchor_log_index is not None
    assert _anchored_at(network, operation.sender, batch.root) > 0

    for i, event in enumerate(events):
        proof = epcis_event_proof(event)
        assert proof["format"] == "provenant-anchored-item/1"
        assert proof["item"]["eventHash"] == event.event_hash
        result = _verify(proof, tmp_path, f"event{i}")
        assert result.returncode == 0, result.stdout + result.stderr

    tampered = epcis_event_proof(events[1])
    tampered["item"] = {"eventHash": events[1].event_hash + "x", "eventID": events[1].event_id}
    result = _verify(tampered, tmp_path, "tampered")
    assert result.returncode == 1, result.stdout
    forged_path = epcis_event_proof(events[1])
    forged_path["path"] = [*reversed(forged_path["path"]), "0x" + "00" * 32]
    assert _verify(forged_path, tmp_path, "forged").returncode == 1

    # A second run re-anchors nothing: no new batch, no new operation.
    operations = Operation.objects.filter(action="epcis.anchor").count()
    assert epcis_anchor(now=later + timedelta(hours=1)) == []
    network.settle()
    assert Operation.objects.filter(action="epcis.anchor").count() == operations == 1
    assert EpcisAnchorBatch.objects.count() == 1


def test_a_batch_closes_by_size_or_by_age(network: Network, settings: Any) -> None:
    settings.EPCIS_ANCHOR_BATCH_SIZE = 2
    settings.EPCIS_ANCHOR_MAX_WAIT_SECONDS = 3600
    events = _capture(network, 5)
    now = timezone.now()
    built = epcis_anchor(now=now)
    # Two full batches; the fifth event waits (not full, not old enough).
    assert [b.item_count for b in built] == [2, 2]
    assert [i["eventHash"] for b in built for i in b.items] == [e.event_hash for e in events[:4]]
    assert EpcisEvent.objects.get(id=events[4].id).anchor_batch is None
    assert epcis_anchor(now=now + timedelta(seconds=3000)) == []
    (last,) = epcis_anchor(now=now + timedelta(seconds=3601))
    assert last.item_count == 1
    assert len({b.root for b in [*built, last]}) == 3
    network.settle()
    assert all(
        o.status == Operation.Status.CONFIRMED
        for o in Operation.objects.filter(action="epcis.anchor")
    )
    epcis_anchor(now=now + timedelta(seconds=4000))
    assert not EpcisAnchorBatch.objects.filter(anchor_transaction_hash="").exists()


def test_a_failed_anchor_is_queued_again_and_a_reorganised_one_recorded_again(
    network: Network, settings: Any
) -> None:
    settings.EPCIS_ANCHOR_BATCH_SIZE = 2
    _capture(network, 2)
    (batch,) = epcis_anchor()
    first = batch.operation
    assert first is not None
    # The key store refused it for good: the next run queues the anchor again.
    Operation.objects.filter(id=first.id).update(status=Operation.Status.FAILED)
    assert epcis_anchor() == []
    batch.refresh_from_db()
    assert batch.operation is not None
    assert batch.operation.id != first.id
    assert batch.operation.idempotency_key == f"epcis-anchor:{batch.root}:1"
    network.settle()
    epcis_anchor()
    batch.refresh_from_db()
    assert batch.anchor_block_number is not None
    assert epcis_anchor() == []  # a recorded anchor is never queued again
    assert Operation.objects.filter(action="epcis.anchor").count() == 2

    # A reorganisation below the anchor's block clears what the batch recorded; the
    # mirrored log of the re-mined transaction is recorded again.
    block = batch.anchor_block_number
    assert anchoring.epcis_anchors_forget(chain_id=settings.CHAIN_ID, to_block=block - 1) == 1
    batch.refresh_from_db()
    assert (batch.anchor_transaction_hash, batch.anchor_block_number) == ("", None)
    assert anchoring.epcis_anchors_forget(chain_id=settings.CHAIN_ID, to_block=block) == 0
    assert anchoring.epcis_anchors_record() == 1
    batch.refresh_from_db()
    assert batch.anchor_block_number == block


def test_chain_events_are_not_batched(network: Network) -> None:
    # A chain fact is proven by its own log, not by an anchor.
    (chain_event,) = _capture(network, 1)
    EpcisEvent.objects.filter(id=chain_event.id).update(
        source=EpcisEvent.Source.CHAIN, organisation=None
    )
    chain_event.refresh_from_db()
    assert epcis_anchor(now=timezone.now() + timedelta(hours=1)) == []
    assert EpcisAnchorBatch.objects.count() == 0
    with pytest.raises(NotAnchored, match="chain fact"):
        epcis_event_proof(chain_event)


def test_the_proof_endpoint_answers_those_who_may_see_the_event(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _capture(network, 2)
    mine, refinery = token_client(network.orgs["mine"]), token_client(network.orgs["refinery"])
    url = f"/epcis/events/{events[0].event_id}/proof"

    pending = mine.get(url)
    assert pending.status_code == 409, pending.content
    assert "not in an anchored batch yet" in pending.json()["detail"]

    epcis_anchor(now=timezone.now() + timedelta(hours=1))
    network.settle()
    answered = mine.get(url)
    assert answered.status_code == 200, answered.content
    assert answered.json()["item"]["eventHash"] == events[0].event_hash
    by_hash = mine.get(f"/epcis/events/{quote(events[1].event_hash, safe=':/')}/proof")
    assert by_hash.status_code == 200
    assert by_hash.json()["item"]["eventID"] == events[1].event_id
    # The event itself is still served at its own URL.
    assert mine.get(f"/epcis/events/{events[0].event_id}").status_code == 200

    # A node that does not answer: 503 with the reason, never a 5xx trace.
    def unreachable() -> Any:
        raise ConnectionRefusedError("node down")

    with monkeypatch.context() as patched:
        patched.setattr(anchoring, "chain", unreachable)
        down = mine.get(url)
    assert down.status_code == 503
    assert "not reachable" in down.json()["detail"]
    assert mine.get(url).status_code == 200

    stranger = refinery.get(url)
    assert stranger.status_code == 404
    assert "may see" in stranger.json()["detail"]
    assert mine.get("/epcis/events/urn:uuid:nothing-like-this/proof").status_code == 404


def test_a_participants_evidence_pack_carries_the_proofs_of_captured_events(
    network: Network, tmp_path: Path
) -> None:
    _gs1_identities(network)
    job = capture_document(
        organisation=network.orgs["mine"], document=document(commissioning(), shipping())
    )
    assert job.captured_count == 2, job.errors
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    rows = list(EpcisEvent.objects.filter(organisation=network.orgs["mine"]).order_by("id"))
    registered = rows[0].operation
    assert registered is not None
    lot_id = int(registered.lot_id)
    mine = stock_scope(organisation=network.orgs["mine"])

    # Not anchored yet: the pack holds the chain facts only.
    before = evidence_pack(lot_id=lot_id, tier="participant", scope=mine)
    assert not [p for p in before["proofs"] if p["format"] == "provenant-anchored-item/1"]

    epcis_anchor(now=timezone.now() + timedelta(hours=1))
    network.settle()
    pack = evidence_pack(lot_id=lot_id, tier="participant", scope=mine)
    anchored = [p for p in pack["proofs"] if p["format"] == "provenant-anchored-item/1"]
    assert [p["item"]["eventHash"] for p in anchored] == [r.event_hash for r in rows]
    result = _verify(pack, tmp_path, "pack")
    assert result.returncode == 0, result.stdout + result.stderr

    # The public pack and an organisation that may not see the events get none of them.
    public = evidence_pack(lot_id=lot_id, tier="public")
    assert not [p for p in public["proofs"] if p["format"] == "provenant-anchored-item/1"]
    stranger = stock_scope(organisation=network.orgs["distributor"])
    theirs = evidence_pack(lot_id=lot_id, tier="participant", scope=stranger)
    assert not [p for p in theirs["proofs"] if p["format"] == "provenant-anchored-item/1"]


def test_the_periodic_task_anchors_and_an_organisation_without_a_key_waits(
    network: Network, settings: Any
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["epcis-anchor"]["task"] == "workers.tasks.epcis_anchor"
    settings.EPCIS_ANCHOR_MAX_WAIT_SECONDS = 0
    _capture(network, 1, slug="mine")
    _capture(network, 1, slug="refinery")
    Organisation.objects.filter(id=network.orgs["refinery"].id).update(address="")
    assert tasks.epcis_anchor() == 1
    (batch,) = EpcisAnchorBatch.objects.all()
    assert batch.organisation == network.orgs["mine"]
    assert EpcisEvent.objects.filter(anchor_batch__isnull=True).count() == 1
    network.settle()
    assert tasks.epcis_anchor() == 0
    batch.refresh_from_db()
    assert batch.anchor_transaction_hash
