"""Writes through the services: validated, queued as operations, signed by each
organisation's own key store, sent, mined and confirmed by the indexer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contracts.chain.client import transact
from contracts.chain.domain import ascii32
from contracts.custody.keystore import KeyStoreUnavailable
from tests.webapp.network import Network
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.documents.services import document_upload
from webapp.lots.models import LotMetadata
from webapp.lots.services import (
    Claims,
    handoff_accept,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
)
from webapp.operations.models import Operation
from webapp.operations.services import IdempotencyConflict
from webapp.operations.submitter import SubmitLater, operation_send
from webapp.organisations.keys import clear_caches, signing_key
from webapp.projections.models import CertificateVersion, HandoffVersion, LotVersion
from webapp.projections.selectors import lot_holders
from webapp.telemetry import SUBMIT_STEP_SECONDS

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def _register(net: Network, **kwargs: Any) -> int:
    fields = {"name": "Cobalt ore", "quantity": 1_000, "unit": "kg"} | kwargs
    operation = lot_register(organisation=net.orgs["mine"], **fields)
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(operation.lot_id or 0)


def _open_handoff(net: Network, lot_id: int, receiver: str, quantity: int) -> int:
    sender = Operation.objects.get(lot_id=lot_id, action="lot.register").organisation
    holder = next(o for o in net.orgs.values() if o.pk == sender.pk)
    for slug, org in net.orgs.items():
        if lot_holders(chain_id=net.manifest.chain_id, lot_id=lot_id).get(org.address):
            holder = net.orgs[slug]
    operation = handoff_initiate(
        organisation=holder, lot_id=lot_id, receiver=net.orgs[receiver], quantity=quantity
    )
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(
        HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open").handoff_id
    )


def test_a_registered_lot_is_signed_by_the_organisations_key_and_confirmed(
    network: Network,
) -> None:
    operation = lot_register(
        organisation=network.orgs["mine"],
        name="Cobalt ore",
        quantity=2_000,
        unit="kg",
        gtin="09506000134352",
        batch="ORE-7",
        claims=Claims(co2e_g_per_unit=3),
    )
    assert operation.status == Operation.Status.QUEUED
    (done,) = network.settle()
    assert done.status == Operation.Status.CONFIRMED
    assert done.nonce == 0
    assert done.confirmed_block
    tx = network.w3.eth.get_transaction(done.transaction_hash)
    assert tx["from"] == network.orgs["mine"].address
    lot = LotVersion.objects.get(lot_id=done.lot_id, block_to__isnull=True)
    metadata = LotMetadata.objects.get(lot_id=done.lot_id)
    assert lot.metadata_hash == metadata.metadata_hash
    assert metadata.gs1_key == "(01)09506000134352(10)ORE-7"
    assert lot_holders(chain_id=network.manifest.chain_id, lot_id=int(done.lot_id or 0)) == {
        network.orgs["mine"].address: Decimal(2_000)
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"quantity": 0}, "quantity", "greater than zero"),
        ({"quantity": -5}, "quantity", "greater than zero"),
        ({"name": " "}, "name", "Give the lot a name"),
        ({"gtin": "09506000134353"}, "gtin", "check digit"),
        ({"claims": Claims(recycled_permille=1001)}, "recycled_permille", "0 to 1000"),
        ({"documents": ["0x" + "ab" * 32]}, "documents", "No uploaded document"),
    ],
)
def test_invalid_lot_input_names_the_field_and_writes_nothing(
    network: Network, fields: dict[str, Any], field: str, message: str
) -> None:
    before = Operation.objects.count()
    with pytest.raises(ValidationError) as refused:
        lot_register(
            organisation=network.orgs["mine"],
            **({"name": "Ore", "quantity": 10, "unit": "kg"} | fields),
        )
    assert message in " ".join(refused.value.message_dict[field])
    assert Operation.objects.count() == before
    assert not LotMetadata.objects.exists()


def test_a_role_the_chain_requires_is_refused_up_front_with_the_chains_reason(
    network: Network,
) -> None:
    with pytest.raises(ValidationError) as refused:
        lot_register(organisation=network.orgs["retailer"], name="Ore", quantity=1, unit="kg")
    assert refused.value.message_dict["__all__"] == [
        "City Electronics lacks the role for this action (needs MINER or MANUFACTURER)."
    ]
    assert not Operation.objects.filter(action="lot.register").exists()
    assert not LotMetadata.objects.exists()


def test_a_handoff_accepted_by_the_receiver_moves_custody(network: Network) -> None:
    lot_id = _register(network)
    handoff_id = _open_handoff(network, lot_id, "refinery", 400)
    chain_id = network.manifest.chain_id
    mine, refinery = network.orgs["mine"].address, network.orgs["refinery"].address
    assert lot_holders(chain_id=chain_id, lot_id=lot_id)[mine] == Decimal(600)
    accepted = handoff_accept(organisation=network.orgs["refinery"], handoff_id=handoff_id)
    network.settle()
    accepted.refresh_from_db()
    assert accepted.status == Operation.Status.CONFIRMED
    assert lot_holders(chain_id=chain_id, lot_id=lot_id) == {
        mine: Decimal(600),
        refinery: Decimal(400),
    }


def test_unknown_receiver_and_too_large_a_quantity_are_refused(network: Network) -> None:
    lot_id = _register(network)
    with pytest.raises(ValidationError) as refused:
        handoff_initiate(
            organisation=network.orgs["mine"], lot_id=lot_id, receiver=None, quantity=1
        )
    assert "receiver" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        handoff_initiate(
            organisation=network.orgs["mine"],
            lot_id=lot_id,
            receiver=network.orgs["refinery"],
            quantity=1_001,
        )
    assert refused.value.message_dict["quantity"] == [
        f"Not enough of lot {lot_id}: Katanga Cobalt Mine holds 1000, 1001 were asked for."
    ]
    with pytest.raises(ValidationError) as refused:
        handoff_initiate(
            organisation=network.orgs["mine"],
            lot_id=999_999,
            receiver=network.orgs["refinery"],
            quantity=1,
        )
    assert refused.value.message_dict["lot_id"] == ["Lot 999999 does not exist on the chain."]
    assert not Operation.objects.filter(action="handoff.initiate").exists()


def test_only_the_receiver_may_accept_or_reject_and_only_the_sender_cancel(
    network: Network,
) -> None:
    lot_id = _register(network)
    handoff_id = _open_handoff(network, lot_id, "refinery", 10)
    before = Operation.objects.count()
    with pytest.raises(ValidationError, match=r"Only the receiver \(Nordic Refinery\) can accept"):
        handoff_accept(organisation=network.orgs["distributor"], handoff_id=handoff_id)
    with pytest.raises(ValidationError, match="Only the receiver"):
        handoff_reject(organisation=network.orgs["mine"], handoff_id=handoff_id, reason="no")
    with pytest.raises(ValidationError, match="Only the sender"):
        handoff_cancel(organisation=network.orgs["refinery"], handoff_id=handoff_id)
    with pytest.raises(ValidationError) as refused:
        handoff_reject(organisation=network.orgs["refinery"], handoff_id=handoff_id, reason=" ")
    assert "reason" in refused.value.message_dict
    assert Operation.objects.count() == before
    rejected = handoff_reject(
        organisation=network.orgs["refinery"], handoff_id=handoff_id, reason="wrong grade"
    )
    network.settle()
    rejected.refresh_from_db()
    assert rejected.status == Operation.Status.CONFIRMED
    handoff = HandoffVersion.objects.get(handoff_id=handoff_id, block_to__isnull=True)
    assert (handoff.status, handoff.reason) == ("rejected", "wrong grade")
    with pytest.raises(ValidationError, match="already rejected"):
        handoff_cancel(organisation=network.orgs["mine"], handoff_id=handoff_id)


def _certify(net: Network, lot_id: int) -> int:
    document = document_upload(
        organisation=net.orgs["certifier"],
        name="qa.pdf",
        content=b"%PDF quality report",
        content_type="application/pdf",
    )
    now = timezone.now()
    operation = certificate_issue(
        organisation=net.orgs["certifier"],
        lot_id=lot_id,
        certificate_type="QUALITY",
        document_hash=document.hash_hex,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
        claims={"CO2E_G_PER_UNIT": 12},
    )
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(CertificateVersion.objects.get(subject=lot_id, block_to__isnull=True).certificate_id)


def test_a_missing_or_revoked_certificate_is_refused_up_front(network: Network) -> None:
    retailer = network.orgs["retailer"]
    store = signing_key(retailer, retailer.address)
    transact(network.w3, store, _lots(network).functions.setAcceptancePolicy(ascii32("QUALITY")))
    lot_id = _register(network)
    handoff_id = _open_handoff(network, lot_id, "retailer", 5)
    with pytest.raises(ValidationError) as refused:
        handoff_accept(organisation=retailer, handoff_id=handoff_id)
    missing = [f"Lot {lot_id} has no valid QUALITY certificate, which the receiver requires."]
    assert refused.value.message_dict["__all__"] == missing

    certificate_id = _certify(network, lot_id)
    with pytest.raises(ValidationError) as refused:
        certificate_revoke(
            organisation=network.orgs["mine"], certificate_id=certificate_id, reason="x"
        )
    assert refused.value.message_dict["__all__"] == [
        f"Only the issuer can revoke certificate {certificate_id}."
    ]
    revoked = certificate_revoke(
        organisation=network.orgs["certifier"], certificate_id=certificate_id, reason="audit failed"
    )
    network.settle()
    revoked.refresh_from_db()
    assert revoked.status == Operation.Status.CONFIRMED
    with pytest.raises(ValidationError) as refused:
        handoff_accept(organisation=retailer, handoff_id=handoff_id)
    assert refused.value.message_dict["__all__"] == missing
    assert not Operation.objects.filter(action="handoff.accept").exists()


def test_a_certificate_lets_the_handoff_through(network: Network) -> None:
    retailer = network.orgs["retailer"]
    store = signing_key(retailer, retailer.address)
    transact(network.w3, store, _lots(network).functions.setAcceptancePolicy(ascii32("QUALITY")))
    lot_id = _register(network)
    handoff_id = _open_handoff(network, lot_id, "retailer", 5)
    _certify(network, lot_id)
    accepted = handoff_accept(organisation=retailer, handoff_id=handoff_id)
    network.settle()
    accepted.refresh_from_db()
    assert accepted.status == Operation.Status.CONFIRMED


def test_an_idempotency_key_returns_the_first_operation_and_never_a_second_fact(
    network: Network,
) -> None:
    mine = network.orgs["mine"]
    first = lot_register(
        organisation=mine, name="Ore", quantity=10, unit="kg", idempotency_key="batch-7"
    )
    again = lot_register(
        organisation=mine, name="Ore", quantity=10, unit="kg", idempotency_key="batch-7"
    )
    assert again.pk == first.pk
    with pytest.raises(IdempotencyConflict, match="batch-7"):
        lot_register(
            organisation=mine, name="Ore", quantity=11, unit="kg", idempotency_key="batch-7"
        )
    network.settle()
    assert Operation.objects.filter(action="lot.register").count() == 1
    assert LotMetadata.objects.count() == 1
    assert LotVersion.objects.filter(creator=mine.address).count() == 1


def test_a_node_that_is_down_leaves_the_operation_queued_until_it_is_back(
    network: Network, portal_settings: Any
) -> None:
    from webapp.chain import chain_client

    node_url = portal_settings.CHAIN_RPC_URL
    portal_settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    chain_client.cache_clear()
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=10, unit="kg")
    with pytest.raises(SubmitLater):
        operation_send(operation_id=operation.id)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.QUEUED
    assert operation.waiting_reason == "the chain node is unreachable; retrying"
    assert operation.transaction_hash == ""
    assert operation.nonce is None

    portal_settings.CHAIN_RPC_URL = node_url
    chain_client.cache_clear()
    (done,) = network.settle()
    assert done.status == Operation.Status.CONFIRMED
    assert done.waiting_reason == ""


def test_a_waiting_operation_is_queued_again_with_backoff_and_then_left_to_the_sweeper(
    network: Network, portal_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tasks wait without Celery's retry (which builds an exception report for every
    wait): each queues itself again, its next attempt numbered, after a jittered backoff
    of at most 2 ** attempt seconds; past its tries it stops, for the sweeper."""
    from webapp.chain import chain_client
    from workers import tasks

    queued: list[tuple[str, dict[str, Any], float]] = []

    def record(task: Any) -> Any:
        def apply_async(*, args: list[str], kwargs: dict[str, Any], countdown: float) -> None:
            queued.append((task.name, kwargs, countdown))

        return apply_async

    for task in (tasks.submit_operation, tasks.track_operation):
        monkeypatch.setattr(task, "apply_async", record(task))
    portal_settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens there
    chain_client.cache_clear()
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=10, unit="kg")
    tasks.submit_operation(str(operation.id))  # no exception: it is queued again
    tasks.submit_operation(str(operation.id), attempt=3)
    tasks.submit_operation(str(operation.id), attempt=12)  # the 13th try: the last
    tasks.track_operation(str(operation.id), attempt=4)  # not submitted: nothing to follow
    operation.refresh_from_db()
    assert operation.status == Operation.Status.QUEUED
    assert operation.waiting_reason == "the chain node is unreachable; retrying"
    # Sent, as far as the mirror knows, and the node unreachable: followed again later.
    Operation.objects.filter(id=operation.id).update(
        status=Operation.Status.SUBMITTED, transaction_hash="0x" + "ab" * 32
    )
    tasks.track_operation(str(operation.id), attempt=4)
    tasks.track_operation(str(operation.id), attempt=20)  # the 21st look: the last
    assert [(name, kwargs) for name, kwargs, _ in queued] == [
        ("workers.tasks.submit_operation", {"attempt": 1}),
        ("workers.tasks.submit_operation", {"attempt": 4}),
        ("workers.tasks.track_operation", {"attempt": 5}),
    ]
    assert 0 <= queued[0][2] <= 1
    assert 0 <= queued[1][2] <= 8
    assert 0 <= queued[2][2] <= 16


def test_a_call_the_chain_refuses_at_submission_fails_with_the_decoded_reason(
    network: Network,
) -> None:
    lot_id = _register(network)
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    first = handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=1_000)
    # The first is still in flight, so the second skips the pre-flight and is queued.
    second = handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=1_000)
    network.settle()
    network.settle()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Operation.Status.CONFIRMED
    assert second.status == Operation.Status.FAILED
    assert second.error.startswith("ERC1155InsufficientBalance(")
    assert second.nonce is None
    assert second.transaction_hash == ""


def _step_counts() -> dict[str, float]:
    return {
        sample.labels["step"]: sample.value
        for metric in SUBMIT_STEP_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    }


def test_the_submitter_times_each_step_and_a_refused_call_is_never_signed(
    network: Network,
) -> None:
    lot_id = _register(network)
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    before = _step_counts()
    handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=1_000)
    # The first is still in flight, so the second skips the pre-flight and is queued; at
    # submission the gas estimate (the build step) refuses it: the lot is in escrow.
    second = handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=1_000)
    network.settle()
    network.settle()
    second.refresh_from_db()
    assert second.status == Operation.Status.FAILED
    after = _step_counts()
    attempts = after["total"] - before.get("total", 0)
    assert attempts >= 2  # the second waits for the first once, then fails
    for step in ("key_store", "lock_wait", "claim", "preflight", "nonce", "build"):
        assert after[step] - before.get(step, 0) == attempts, step
    for step in ("sign", "record", "send"):  # only the first was signed
        assert after[step] - before.get(step, 0) == 1, step
    assert after["track"] > before.get("track", 0)


def test_a_signed_transaction_that_reached_the_node_is_never_signed_twice(
    network: Network,
) -> None:
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=10, unit="kg")
    operation_send(operation_id=operation.id)
    operation.refresh_from_db()
    sent_hash = operation.transaction_hash
    # The worker died after the node took the transaction but before recording it.
    Operation.objects.filter(id=operation.id).update(status=Operation.Status.QUEUED)
    operation_send(operation_id=operation.id)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.SUBMITTED
    assert operation.transaction_hash == sent_hash
    assert network.w3.eth.get_transaction_count(network.orgs["mine"].address) == 1


def _lots(net: Network) -> Any:
    from contracts.chain.client import bind

    return bind(net.w3, "Lots", net.manifest.addresses["Lots"])


def test_bundle_unpack_and_transform_go_on_chain_and_into_the_mirror(network: Network) -> None:
    from webapp.lots.services import Output, bundle_create, bundle_unpack, transformation_record
    from webapp.projections.models import TransformationEdge
    from webapp.projections.selectors import bundle_contents

    chain_id = network.manifest.chain_id
    ore_a, ore_b = _register(network, quantity=500), _register(network, quantity=300)
    mine = network.orgs["mine"]
    with pytest.raises(ValidationError) as refused:
        bundle_create(organisation=mine, items=[(ore_a, 10), (ore_a, 5)], name="Pallet")
    assert refused.value.message_dict["items"] == ["Each lot may appear only once."]
    with pytest.raises(ValidationError) as refused:
        bundle_create(organisation=mine, items=[(ore_a, 10)], name="Pallet", sscc="123")
    assert "sscc" in refused.value.message_dict

    packed = bundle_create(organisation=mine, items=[(ore_a, 100), (ore_b, 50)], name="Pallet 1")
    network.settle()
    packed.refresh_from_db()
    assert packed.status == Operation.Status.CONFIRMED, packed.error
    bundle_id = int(packed.lot_id or 0)
    assert bundle_contents(chain_id=chain_id, bundle_id=bundle_id) == {
        ore_a: Decimal(100),
        ore_b: Decimal(50),
    }
    unpacked = bundle_unpack(organisation=mine, bundle_id=bundle_id)
    network.settle()
    unpacked.refresh_from_db()
    assert unpacked.status == Operation.Status.CONFIRMED, unpacked.error
    assert bundle_contents(chain_id=chain_id, bundle_id=bundle_id) == {}

    with pytest.raises(ValidationError) as refused:
        transformation_record(
            organisation=mine,
            inputs=[(ore_a, 501)],
            process="smelt",
            outputs=[Output(name="Cobalt", quantity=10, unit="kg")],
        )
    assert refused.value.message_dict["inputs"][0].startswith(f"Not enough of lot {ore_a}")
    made = transformation_record(
        organisation=mine,
        inputs=[(ore_a, 500), (ore_b, 300)],
        process="smelting run 1",
        outputs=[Output(name="Cobalt", quantity=80, unit="kg")],
    )
    network.settle()
    made.refresh_from_db()
    assert made.status == Operation.Status.CONFIRMED, made.error
    edges = TransformationEdge.objects.filter(output_lot=made.lot_id)
    assert {(int(e.input_lot), int(e.input_quantity)) for e in edges} == {
        (ore_a, 500),
        (ore_b, 300),
    }
    assert LotMetadata.objects.get(lot_id=made.lot_id).document["made_from"] == [
        [ore_a, 500],
        [ore_b, 300],
    ]


def test_a_key_store_that_cannot_sign_leaves_the_operation_queued_and_unsigned(
    network: Network, portal_settings: Any
) -> None:
    mine = network.orgs["mine"]
    operation = lot_register(organisation=mine, name="Ore", quantity=10, unit="kg")
    passphrase = portal_settings.KEYSTORE_PASSPHRASE
    portal_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    with pytest.raises(SubmitLater):
        operation_send(operation_id=operation.id)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.QUEUED
    assert operation.waiting_reason.startswith("key store unavailable: keystore file")
    assert "passphrase does not open it" in operation.waiting_reason
    assert (operation.transaction_hash, operation.raw_transaction, operation.nonce) == (
        "",
        "",
        None,
    )
    assert network.w3.eth.get_transaction_count(mine.address) == 0

    portal_settings.KEYSTORE_PASSPHRASE = passphrase
    clear_caches()
    (done,) = network.settle()
    assert done.status == Operation.Status.CONFIRMED
    assert done.nonce == 0


def test_a_failed_key_store_rests_and_never_holds_up_another_organisation(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key store that fails is not asked again for every operation of its organisation
    (a Key Vault that does not answer costs each ask its timeouts and retries, which would
    keep the workers from everyone else's operations); after the rest it is asked again."""
    from webapp.operations.submitter import send as submitter
    from webapp.organisations import resting

    mine, other = network.orgs["mine"], network.orgs["refinery"]
    asked: list[str] = []
    real = submitter.signing_key

    def vault_down(organisation: Any, address: str) -> Any:
        if organisation.pk == mine.pk:
            asked.append(address)
            raise KeyStoreUnavailable("Key Vault https://vault.example: connection refused")
        return real(organisation, address)

    monkeypatch.setattr(submitter, "signing_key", vault_down)
    first, second = (
        lot_register(organisation=mine, name=f"Ore {n}", quantity=10, unit="kg") for n in (1, 2)
    )
    for operation in (first, second):
        with pytest.raises(SubmitLater, match="connection refused"):
            operation_send(operation_id=operation.id)
    assert len(asked) == 1  # the second waited on the first one's answer
    second.refresh_from_db()
    assert second.waiting_reason == (
        "key store unavailable: Key Vault https://vault.example: connection refused"
    )

    theirs = lot_register(organisation=other, name="Scrap", quantity=10, unit="kg")
    assert operation_send(operation_id=theirs.id).status == Operation.Status.SUBMITTED

    monkeypatch.setattr(resting, "REST_S", 0.0)  # the rest is over: asked again
    with pytest.raises(SubmitLater):
        operation_send(operation_id=second.id)
    assert len(asked) == 2
    monkeypatch.setattr(submitter, "signing_key", real)
    network.settle()
    for operation in (first, second, theirs):
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
