"""Operations that cannot be sent, or must wait: a poisoned operation fails alone with a
reason while the sweep goes on for everyone else; out-of-range ids never break a page; a
failed operation leaves nothing behind off chain; an operation that depends on the same
sender's transaction still in the node's pool waits for it instead of failing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.domain import LotKind, SubjectKind, ascii32
from tests.webapp.network import PASSWORD, Network
from webapp.chain.chain_client import system
from webapp.chain.models import ChainEvent
from webapp.documents.models import Document
from webapp.documents.services import document_upload
from webapp.lots.models import LotMetadata
from webapp.lots.services import handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send, operation_track
from webapp.organisations.keys import signing_key
from webapp.organisations.models import Organisation
from webapp.privacy.models import DataSubject, PersonalValue
from workers.tasks import sweep_operations

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

H = "0x" + "11" * 32
ZERO = "0x" + "00" * 32


def _poisoned_calls(network: Network) -> dict[str, dict[str, Any]]:
    def certificate(valid_from: int, claim: int) -> dict[str, Any]:
        return {
            "contract": "Certificates",
            "function": "issue",
            "args": [
                int(SubjectKind.LOT), 1001, "0x" + ascii32("QUALITY").hex(), H,
                valid_from, valid_from + 86_400,
                ["0x" + ascii32("CO2E_G_PER_UNIT").hex()], [claim],
            ],
        }  # fmt: skip

    return {
        "lot id 2**256": {
            "contract": "Lots",
            "function": "registerLot",
            "args": [2**256, 100, int(LotKind.RAW_MATERIAL), H, ZERO],
        },
        "claim 2**300": certificate(1_700_000_000, 2**300),
        "date before 1970": certificate(-62_135_596_800, 1),  # 0001-01-01
    }


@pytest.mark.parametrize("poison", ["lot id 2**256", "claim 2**300", "date before 1970"])
def test_a_poisoned_operation_fails_alone_while_another_organisations_confirms(
    network: Network, poison: str
) -> None:
    refinery, certifier = network.orgs["refinery"], network.orgs["certifier"]
    healthy = lot_register(organisation=refinery, name="Cathode", quantity=50, unit="kg")
    # Written directly, as an operation recorded before the edge checked its numbers.
    bad = Operation.objects.create(
        organisation=certifier,
        chain_id=network.manifest.chain_id,
        sender=certifier.address,
        action="certificate.issue",
        request={"poison": poison},
        call=_poisoned_calls(network)[poison],
    )
    past = timezone.now() - timedelta(minutes=1)
    Operation.objects.filter(pk__in=[healthy.pk, bad.pk]).update(updated_at=past)

    sweep_operations(stale_after_seconds=0)
    network.index()

    bad.refresh_from_db()
    healthy.refresh_from_db()
    assert healthy.status == Operation.Status.CONFIRMED, (healthy.error, healthy.waiting_reason)
    assert bad.status == Operation.Status.FAILED
    assert "does not fit the contract's types" in bad.error
    assert bad.transaction_hash == ""
    assert bad.nonce is None
    # Nothing of it reached the node: the certifier's nonce is untouched.
    assert network.w3.eth.get_transaction_count(certifier.address) == 0
    sweep_operations(stale_after_seconds=0)  # and the next sweep has nothing to trip on
    bad.refresh_from_db()
    assert bad.status == Operation.Status.FAILED


def test_one_operation_that_raises_does_not_stop_the_sweep(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any unexpected error is that operation's alone: logged, counted, retried later."""
    from workers import tasks

    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    broken = lot_register(organisation=mine, name="Ore", quantity=10, unit="kg")
    healthy = lot_register(organisation=refinery, name="Cathode", quantity=50, unit="kg")
    Operation.objects.update(updated_at=timezone.now() - timedelta(minutes=1))
    real_send = tasks.operation_send

    def send(*, operation_id: Any) -> Operation:
        if str(operation_id) == str(broken.pk):
            raise RuntimeError("a defect nobody foresaw")
        return real_send(operation_id=operation_id)

    monkeypatch.setattr(tasks, "operation_send", send)
    sweep_operations(stale_after_seconds=0)
    network.index()
    broken.refresh_from_db()
    healthy.refresh_from_db()
    assert healthy.status == Operation.Status.CONFIRMED
    assert broken.status == Operation.Status.QUEUED
    assert "unexpected error" in broken.waiting_reason


def test_preflight_refuses_a_call_that_cannot_be_encoded_and_records_nothing(
    network: Network,
) -> None:
    with pytest.raises(ValidationError) as refused:
        handoff_initiate(
            organisation=network.orgs["mine"],
            lot_id=2**256,
            receiver=network.orgs["refinery"],
            quantity=1,
        )
    assert "does not fit the contract's types" in str(refused.value)
    assert not Operation.objects.filter(action="handoff.initiate").exists()


SQLITE_READS = textwrap.dedent(
    """
    import json, os, sys
    import django
    django.setup()
    from decimal import Decimal
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    setup_test_environment()
    call_command("migrate", verbosity=0)
    from webapp.organisations.models import Organisation
    from webapp.organisations.services import member_invite
    from webapp.operations.models import Operation
    org = Organisation.objects.create(name="Mine", slug="mine", address="0x" + "11" * 20)
    member_invite(organisation=org, username="mine", password=sys.argv[1])
    op = Operation.objects.create(
        organisation=org, chain_id=1337, sender=org.address, action="handoff.initiate",
        request={"lot_id": 10**100, "quantity": 1}, call={"args": [10**100]},
        lot_id=Decimal(10**100),
    )
    client = Client()
    assert client.login(username="mine", password=sys.argv[1])
    out = {}
    for path in ["/", "/operations", "/api/v1/operations", f"/api/v1/operations/{op.id}",
                 f"/operations/{op.id}"]:
        response = client.get(path)
        out[path] = [response.status_code, response.content.decode(errors="replace")]
    print(json.dumps(out))
    """
)


@pytest.mark.django_db
def test_an_out_of_range_lot_id_on_sqlite_never_breaks_a_page(tmp_path: Path) -> None:
    """SQLite keeps numeric(78, 0) as a REAL: a lot id of 10**100 stored there used to make
    the dashboard, /operations and the operations API answer 500."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROVENANT_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_READS, PASSWORD],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = json.loads(done.stdout.strip().splitlines()[-1])
    for path, (status, body) in pages.items():
        assert status == 200, (path, body[-2000:])
    listing = json.loads(pages["/api/v1/operations"][1])
    (row,) = listing["results"]
    assert row["lot_id"] is None  # not a lot id the chain could hold
    assert row["request"]["lot_id"] == 10**100  # what was asked for is still shown


def _pause_mining(w3: Web3) -> None:
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setIntervalMining", [0])  # type: ignore[arg-type]


def _mine(w3: Web3) -> None:
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_an_operation_waits_for_the_same_senders_transaction_still_in_the_pool(
    network: Network,
) -> None:
    """As on a network with 1-2 s blocks: the handoff of a lot whose registration is sent
    but not mined yet would be refused against the latest block. It waits for the
    registration, then confirms; it never fails."""
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    w3 = network.w3
    _pause_mining(w3)
    registration = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    lot_id = int(registration.lot_id or 0)
    handoff = handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=40)

    operation_send(operation_id=registration.pk)
    registration.refresh_from_db()
    assert registration.status == Operation.Status.SUBMITTED
    with pytest.raises(SubmitLater):
        operation_send(operation_id=handoff.pk)
    handoff.refresh_from_db()
    assert handoff.status == Operation.Status.QUEUED, handoff.error
    assert "earlier operations" in handoff.waiting_reason
    with pytest.raises(SubmitLater):  # in the pool, not in a block
        operation_track(operation_id=registration.pk)

    _mine(w3)
    network.index()
    registration.refresh_from_db()
    assert registration.status == Operation.Status.CONFIRMED
    operation_send(operation_id=handoff.pk)
    _mine(w3)
    operation_track(operation_id=handoff.pk)
    network.index()
    handoff.refresh_from_db()
    assert handoff.status == Operation.Status.CONFIRMED, handoff.error
    assert handoff.nonce == registration.nonce + 1  # type: ignore[operator]


def _register_directly(network: Network, org: Organisation, lot_id: int) -> str:
    """A registration another organisation sends straight to the node (not through us)."""
    w3, contracts = system()
    call = contracts.all["Lots"].functions.registerLot(
        lot_id, 5, int(LotKind.RAW_MATERIAL), H, ZERO
    )
    store = signing_key(org, org.address)
    tx = build_transaction(w3, Web3.to_checksum_address(org.address), call, gas=400_000)
    return w3.eth.send_raw_transaction(store.sign_transaction(tx)).to_0x_hex()


def _registration_with_leftovers(network: Network) -> tuple[Operation, Document, int]:
    mine = network.orgs["mine"]
    document = document_upload(
        organisation=mine,
        name="assay.pdf",
        content=b"%PDF assay 17",
        content_type="application/pdf",
    )
    subjects = DataSubject.objects.count()
    operation = lot_register(
        organisation=mine,
        name="Ore",
        quantity=100,
        unit="kg",
        documents=[document.hash_hex],
        personal={"contact_name": "Ana Mwamba", "contact_email": "ana@example.org"},
    )
    assert DataSubject.objects.count() == subjects + 1
    assert PersonalValue.objects.count() == 2
    assert LotMetadata.objects.filter(lot_id=operation.lot_id).exists()
    return operation, document, subjects


def _assert_nothing_left(operation: Operation, document: Document, subjects: int) -> None:
    operation.refresh_from_db()
    assert operation.status == Operation.Status.FAILED
    assert "already exists" in operation.error or "LotAlreadyExists" in operation.error
    mine_metadata = LotMetadata.objects.filter(
        lot_id=operation.lot_id, document__registered_by="mine"
    )
    assert not mine_metadata.exists()
    assert DataSubject.objects.count() == subjects
    assert PersonalValue.objects.count() == 0
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Path(document.file.path).exists()


def test_a_registration_refused_by_the_submitters_preflight_leaves_nothing_behind(
    network: Network,
) -> None:
    operation, document, subjects = _registration_with_leftovers(network)
    # Another organisation takes the lot id on chain before the submitter gets to it.
    _register_directly(network, network.orgs["refinery"], int(operation.lot_id or 0))
    operation_send(operation_id=operation.pk)
    _assert_nothing_left(operation, document, subjects)
    network.index()  # the other organisation's lot is on chain; ours left no trace
    _assert_nothing_left(operation, document, subjects)


def test_a_registration_that_reverts_in_its_block_leaves_nothing_behind(
    network: Network,
) -> None:
    operation, document, subjects = _registration_with_leftovers(network)
    w3 = network.w3
    _pause_mining(w3)
    # Both in the pool: the other organisation's arrived first and is mined first.
    _register_directly(network, network.orgs["refinery"], int(operation.lot_id or 0))
    operation_send(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.SUBMITTED
    _mine(w3)
    operation_track(operation_id=operation.pk)
    _assert_nothing_left(operation, document, subjects)
    operation.refresh_from_db()
    assert w3.eth.get_transaction_receipt(operation.transaction_hash)["status"] == 0  # type: ignore[arg-type]


def test_a_signed_operation_behind_a_missing_earlier_nonce_is_sent_again_not_re_signed(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender's earlier transaction is missing from the node's pool (dropped), and the
    later operation's signed bytes never reached the node (it was unreachable). Its nonce
    is not taken, only not next: the same bytes (same hash) go out again, never a second
    signature, and both operations end confirmed exactly once."""
    from web3.eth import Eth

    mine = network.orgs["mine"]
    w3 = network.w3
    _pause_mining(w3)
    first = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    later = lot_register(organisation=mine, name="Ore 2", quantity=7, unit="kg")
    operation_send(operation_id=first.pk)
    first.refresh_from_db()
    assert first.status == Operation.Status.SUBMITTED

    real_send = Eth.send_raw_transaction

    def unreachable(self: Eth, transaction: Any) -> Any:
        raise ConnectionError("the node went away")

    monkeypatch.setattr(Eth, "send_raw_transaction", unreachable)
    with pytest.raises(SubmitLater):
        operation_send(operation_id=later.pk)
    monkeypatch.setattr(Eth, "send_raw_transaction", real_send)
    later.refresh_from_db()
    assert later.status == Operation.Status.QUEUED
    assert later.transaction_hash
    assert later.nonce == first.nonce + 1  # type: ignore[operator]
    signed_hash = later.transaction_hash

    dropped = w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_dropTransaction", [first.transaction_hash]
    )
    assert "error" not in dropped, dropped
    assert w3.eth.get_transaction_count(mine.address, "pending") == first.nonce

    operation_send(operation_id=later.pk)
    later.refresh_from_db()
    assert later.status == Operation.Status.SUBMITTED, (later.error, later.waiting_reason)
    assert later.transaction_hash == signed_hash  # the same bytes, not a second signature
    assert later.nonce == first.nonce + 1  # type: ignore[operator]

    for _ in range(3):
        for operation in (first, later):
            with contextlib.suppress(SubmitLater):  # still in the pool
                operation_track(operation_id=operation.pk)
        _mine(w3)
    network.index()
    for operation in (first, later):
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert later.transaction_hash == signed_hash
    assert w3.eth.get_transaction_count(mine.address) == later.nonce + 1  # type: ignore[operator]
    for operation in (first, later):
        registered = ChainEvent.objects.filter(
            event="LotRegistered", transaction_hash=operation.transaction_hash
        )
        assert registered.count() == 1
        assert int(registered.get().args["lotId"]) == int(operation.lot_id or 0)


def test_a_transaction_the_node_lost_whose_nonce_went_to_another_is_signed_again(
    network: Network,
) -> None:
    """The node restarted and lost its pool: the sender's next operation is signed with the
    lost transaction's nonce (the node's pending nonce). The tracker's second send of the
    lost bytes is refused as an underpriced replacement: that is not a failure, it waits,
    and once the other transaction is mined it is signed afresh. Both end confirmed, each
    fact once, the nonces without a gap."""
    mine = network.orgs["mine"]
    w3 = network.w3
    _pause_mining(w3)
    lost = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    operation_send(operation_id=lost.pk)
    lost.refresh_from_db()
    dropped = w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_dropTransaction", [lost.transaction_hash]
    )
    assert "error" not in dropped, dropped
    after = lot_register(organisation=mine, name="Ore 2", quantity=7, unit="kg")
    operation_send(operation_id=after.pk)
    after.refresh_from_db()
    assert after.nonce == lost.nonce  # the node's pending nonce: the lost one's

    with pytest.raises(SubmitLater):
        operation_track(operation_id=lost.pk)
    lost.refresh_from_db()
    assert lost.status == Operation.Status.SUBMITTED, lost.error
    assert "holds its nonce" in lost.waiting_reason

    for _ in range(4):
        _mine(w3)
        for operation in (lost, after):
            operation.refresh_from_db()
            step = operation_send if operation.status == Operation.Status.QUEUED else None
            with contextlib.suppress(SubmitLater):
                (step or operation_track)(operation_id=operation.pk)
        network.index()
    for operation in (lost, after):
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert sorted([lost.nonce, after.nonce]) == [0, 1]  # type: ignore[type-var]
    assert ChainEvent.objects.filter(event="LotRegistered").count() == 2


def test_a_handoff_mined_before_its_lots_registration_is_signed_again_after_it(
    network: Network,
) -> None:
    """After a reorganisation or a node restart, a lot's registration can be signed again
    behind the handoff that needs it: the handoff's transaction reverts (UnknownLot). With
    the sender's earlier registration still in flight that is not the handoff's failure:
    the reverted attempt is recorded (its nonce stays accounted for) and the handoff is
    signed again after the registration. Each fact once."""
    mine = network.orgs["mine"]
    w3 = network.w3
    sender = Web3.to_checksum_address(mine.address)
    _pause_mining(w3)
    registration = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    lot_id = int(registration.lot_id or 0)
    handoff = handoff_initiate(
        organisation=mine, lot_id=lot_id, receiver=network.orgs["refinery"], quantity=100
    )
    operation_send(operation_id=registration.pk)
    registration.refresh_from_db()
    w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_dropTransaction", [registration.transaction_hash]
    )
    # The handoff goes out first, with the nonce the lost registration had.
    _, contracts = system()
    call = contracts.all["Lots"].functions.initiateHandoff(
        lot_id, Web3.to_checksum_address(network.orgs["refinery"].address), 100
    )
    raw = signing_key(mine, mine.address).sign_transaction(
        build_transaction(w3, sender, call, gas=400_000)
    )
    sent = w3.eth.send_raw_transaction(raw).to_0x_hex()
    Operation.objects.filter(pk=handoff.pk).update(
        status=Operation.Status.SUBMITTED,
        transaction_hash=sent,
        raw_transaction="0x" + raw.hex(),
        nonce=registration.nonce,
    )
    _mine(w3)
    assert w3.eth.get_transaction_receipt(sent)["status"] == 0  # UnknownLot

    operation_track(operation_id=handoff.pk)
    handoff.refresh_from_db()
    assert handoff.status == Operation.Status.QUEUED, handoff.error
    assert handoff.reverted_attempts == [
        {"transaction_hash": sent, "nonce": registration.nonce, "block": w3.eth.block_number}
    ]
    assert "earlier operations" in handoff.waiting_reason

    for _ in range(4):
        for operation in (registration, handoff):
            operation.refresh_from_db()
            step = operation_send if operation.status == Operation.Status.QUEUED else None
            with contextlib.suppress(SubmitLater):
                (step or operation_track)(operation_id=operation.pk)
        _mine(w3)
        network.index()
    for operation in (registration, handoff):
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert ChainEvent.objects.filter(event="LotRegistered").count() == 1
    assert ChainEvent.objects.filter(event="HandoffInitiated").count() == 1
    assert {registration.nonce, handoff.nonce} == {1, 2}
    assert w3.eth.get_transaction_count(sender) == 3  # the reverted one, then the two
