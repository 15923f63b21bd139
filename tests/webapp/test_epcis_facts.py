"""The chain mirror's facts as EPCIS 2.0 events: how lots and organisations are named, the
event each fact becomes (type, action, CBV bizStep and disposition, identifiers, chain
pointers), that each conforms to GS1's schema, expands offline and is identified by the
hash GS1's reference implementation computes; and the consumer that stores them (once per
fact, replays and all) and forgets them when their blocks leave the chain."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_epcis_hash import reference_hashes
from tests.webapp.test_provenance_flow import certify, done, hand
from webapp.certificates.services import certificate_revoke
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumer_rollback
from webapp.epcis.consumers import ChainFacts, chain_facts_record
from webapp.epcis.facts import CONTEXT, NAMESPACE, Names, fact_event
from webapp.epcis.hashing import event_hash
from webapp.epcis.models import EpcisEvent
from webapp.epcis.validation import document_problems, event_problems, expand
from webapp.gs1 import with_check_digit
from webapp.lots.identities import (
    LotIdentity,
    lot_epc,
    lot_identity,
    organisation_party,
    unece_unit,
)
from webapp.lots.models import LotMetadata
from webapp.lots.services import (
    Output,
    bundle_create,
    bundle_unpack,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
    transformation_record,
)
from webapp.operations.calls import ContractCall
from webapp.operations.services import operation_queue
from webapp.organisations.models import Organisation
from webapp.projections.models import HandoffVersion

PREFIX = "4012345"
GTIN = with_check_digit("401234512345")
LGTIN = "urn:epc:class:lgtin:4012345.012345.B1"
MINE_GLN = with_check_digit("401234500001")
MINE_PGLN = "urn:epc:id:pgln:4012345.00001"
SSCC = with_check_digit("34012345000000001")
SSCC_URN = "urn:epc:id:sscc:4012345.3000000001"
CHAIN = 31337
SENDER = "0x" + "Ab" * 20
RECEIVER = "0x" + "cD" * 20


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-02T09:00:00.000Z",
        "epcisBody": {"eventList": events},
    }


def without_context(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "@context"}


# -- identities ---------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("unit", "code"),
    [("kg", "KGM"), ("g", "GRM"), (" t ", "TNE"), ("KG", "KGM"), ("pieces", ""), ("units", "")],
)
def test_a_lots_unit_becomes_its_unece_code_and_counted_units_have_none(
    unit: str, code: str
) -> None:
    assert unece_unit(unit) == code


@pytest.mark.unit
def test_a_batch_with_a_gtin_is_an_lgtin_class_counted_in_its_unit() -> None:
    metadata = LotMetadata(document={"unit": "kg"}, gs1_key=f"(01)0{GTIN}(10)B1")
    found = lot_identity(chain_id=CHAIN, lot_id=7, kind=1, metadata=metadata, prefixes=[PREFIX])
    assert found == LotIdentity(LGTIN, instance=False, uom="KGM")
    assert found.quantity_element(12) == {"epcClass": LGTIN, "quantity": 12, "uom": "KGM"}
    # Without a registered company prefix: the Digital Link URI, never a guess at the split.
    plain = lot_identity(chain_id=CHAIN, lot_id=7, kind=1, metadata=metadata)
    assert plain.uri == f"https://id.gs1.org/01/0{GTIN}/10/B1"


@pytest.mark.unit
def test_a_bundle_with_an_sscc_is_an_instance_and_other_lots_get_our_urn() -> None:
    pallet = LotMetadata(document={"unit": "pallet", "sscc": SSCC})
    assert lot_identity(
        chain_id=CHAIN, lot_id=9, kind=4, metadata=pallet, prefixes=[PREFIX]
    ) == LotIdentity(SSCC_URN, instance=True)
    plain_bundle = lot_identity(chain_id=CHAIN, lot_id=9, kind=4, metadata=None)
    assert plain_bundle == LotIdentity("urn:provenant:lot:31337:9", instance=True)
    # Metadata not (yet) known: our URN, a class, counted.
    unknown = lot_identity(chain_id=CHAIN, lot_id=5, kind=1, metadata=None)
    assert unknown == LotIdentity("urn:provenant:lot:31337:5", instance=False)
    assert unknown.quantity_element(3) == {"epcClass": "urn:provenant:lot:31337:5", "quantity": 3}
    ore = LotMetadata(document={"unit": "g"})
    assert lot_identity(chain_id=CHAIN, lot_id=5, kind=1, metadata=ore).uom == "GRM"


@pytest.mark.unit
def test_an_organisation_is_its_pgln_or_our_urn_of_its_slug() -> None:
    with_gln = Organisation(slug="mine", gln=MINE_GLN, gs1_company_prefix=PREFIX)
    assert organisation_party(with_gln) == MINE_PGLN
    unsplit = Organisation(slug="mine", gln=MINE_GLN)
    assert organisation_party(unsplit) == f"https://id.gs1.org/417/{MINE_GLN}"
    assert (
        organisation_party(Organisation(slug="refinery")) == "urn:provenant:organisation:refinery"
    )


# -- facts as events (pure) ---------------------------------------------------------------


def fact(event: str, **args: Any) -> ChainEvent:
    return ChainEvent(
        chain_id=CHAIN, block_number=12, block_timestamp=datetime(2026, 12, 1, 10, tzinfo=UTC),
        transaction_hash="0x" + "11" * 32, log_index=3, event=event, args=args,
    )  # fmt: skip


NAMES = Names(
    lots={
        1: LotIdentity(LGTIN, instance=False, uom="KGM"),
        9: LotIdentity(SSCC_URN, instance=True),
    },
    parties={SENDER.lower(): MINE_PGLN},
    certificate_subjects={5: 1},
)
HANDOFF = {"handoffId": 3, "lotId": 1, "sender": SENDER, "receiver": RECEIVER, "quantity": 4}
FACTS = [
    (
        fact("LotRegistered", lotId=1, owner=SENDER, kind=1, quantity=10),
        ("ObjectEvent", "ADD", "commissioning", "active"),
    ),
    (
        fact("LotRegistered", lotId=9, owner=SENDER, kind=4, quantity=1),
        ("ObjectEvent", "ADD", "commissioning", "active"),
    ),
    (
        fact("HandoffInitiated", **HANDOFF, escrow=SENDER),
        ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    ),
    (fact("HandoffAccepted", **HANDOFF), ("ObjectEvent", "OBSERVE", "receiving", "in_progress")),
    (
        fact("HandoffRejected", **HANDOFF, reason="wet"),
        ("ObjectEvent", "OBSERVE", "void_shipping", "returned"),
    ),
    (fact("HandoffCancelled", **HANDOFF), ("ObjectEvent", "OBSERVE", "void_shipping", "active")),
    (
        fact("LotsBundled", bundleId=9, holder=SENDER, lotIds=[1, 2], quantities=[4, 5]),
        ("AggregationEvent", "ADD", "packing", None),
    ),
    (
        fact("LotsUnbundled", bundleId=9, holder=SENDER, lotIds=[1, 2], quantities=[4, 5]),
        ("AggregationEvent", "DELETE", "unpacking", None),
    ),
    (
        fact(
            "LotsTransformed",
            transformationId=4,
            actor=SENDER,
            inputIds=[1, 9],
            inputQuantities=[3, 1],
            outputIds=[2],
            outputQuantities=[2],
            processHash="0x" + "22" * 32,
        ),
        ("TransformationEvent", None, "creating_class_instance", "active"),
    ),
    (
        fact("QuarantineSet", lotId=1, by=SENDER, authority=0, reason="humidity"),
        ("ObjectEvent", "OBSERVE", "holding", "non_sellable_other"),
    ),
    (
        fact("QuarantineCleared", lotId=1, by=SENDER, setBy=SENDER, reason="dry"),
        ("ObjectEvent", "OBSERVE", "inspecting", "conformant"),
    ),
    (
        fact(
            "CertificateIssued",
            certificateId=5,
            subjectKind=1,
            subject=1,
            certificateType="0x" + "00" * 32,
            issuer=SENDER,
            documentHash="0x" + "00" * 32,
            validFrom=0,
            validUntil=1,
            claimKeys=[],
            claimValues=[],
        ),
        ("ObjectEvent", "OBSERVE", "inspecting", None),
    ),
    (
        fact("CertificateRevoked", certificateId=5, issuer=SENDER, reason="withdrawn"),
        ("ObjectEvent", "OBSERVE", "inspecting", None),
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize(("chain_event", "expected"), FACTS, ids=[f.event for f, _ in FACTS])
def test_each_fact_is_a_conforming_epcis_event_identified_by_the_reference_hash(
    chain_event: ChainEvent, expected: tuple[str, str | None, str, str | None]
) -> None:
    event = fact_event(chain_event, NAMES)
    assert event is not None
    assert event_problems(event) == []
    kind, action, step, disposition = expected
    assert (event["type"], event.get("action"), event["bizStep"], event.get("disposition")) == (
        kind, action, step, disposition,
    )  # fmt: skip
    assert event["eventTime"] == event["recordTime"] == "2026-12-01T10:00:00.000+00:00"
    assert event["eventTimeZoneOffset"] == "+00:00"
    assert event["@context"] == CONTEXT
    assert {k: event[k] for k in event if k.startswith("provenant:")}.items() >= {
        "provenant:chainId": "31337",
        "provenant:blockNumber": "12",
        "provenant:transactionHash": "0x" + "11" * 32,
        "provenant:logIndex": "3",
        "provenant:chainEvent": chain_event.event,
    }.items()
    assert event["eventID"] == event_hash(event)
    assert event["eventID"] == event_hash(without_context(event), CONTEXT)
    assert reference_hashes(document([without_context(event)])) == [event["eventID"]]


@pytest.mark.unit
def test_the_hash_leaves_the_event_id_out() -> None:
    event = fact_event(FACTS[2][0], NAMES)
    assert event is not None
    assert (
        event_hash({**event, "eventID": "urn:uuid:0b7e3a4c-8f6e-4c1b-9a55-000000000001"})
        == (event["eventID"])
    )


@pytest.mark.unit
def test_handoffs_name_the_parties_and_the_handoff_and_lots_by_their_kind_of_identifier() -> None:
    shipping = fact_event(FACTS[2][0], NAMES)
    assert shipping is not None
    assert shipping["quantityList"] == [{"epcClass": LGTIN, "quantity": 4, "uom": "KGM"}]
    assert shipping["sourceList"] == [{"type": "owning_party", "source": MINE_PGLN}]
    assert shipping["destinationList"] == [
        {"type": "owning_party", "destination": f"urn:provenant:account:31337:{RECEIVER.lower()}"}
    ]
    assert shipping["bizTransactionList"] == [
        {"type": "desadv", "bizTransaction": "urn:provenant:handoff:31337:3"}
    ]
    rejected = fact_event(FACTS[4][0], NAMES)
    assert rejected is not None
    assert rejected["provenant:reason"] == "wet"

    packing = fact_event(FACTS[6][0], NAMES)
    assert packing is not None
    assert packing["parentID"] == SSCC_URN
    assert packing["childQuantityList"] == [
        {"epcClass": LGTIN, "quantity": 4, "uom": "KGM"},
        {"epcClass": "urn:provenant:lot:31337:2", "quantity": 5},  # unknown: our URN
    ]
    transformed = fact_event(FACTS[8][0], NAMES)
    assert transformed is not None
    assert transformed["inputEPCList"] == [SSCC_URN]
    assert transformed["outputQuantityList"] == [
        {"epcClass": "urn:provenant:lot:31337:2", "quantity": 2}
    ]
    assert transformed["transformationID"] == "urn:provenant:transformation:31337:4"
    revoked = fact_event(FACTS[12][0], NAMES)
    assert revoked is not None
    assert revoked["certificationInfo"] == "urn:provenant:certificate:31337:5"
    assert revoked["quantityList"] == [{"epcClass": LGTIN}]  # the lot, not an amount of it


@pytest.mark.unit
def test_facts_epcis_has_no_event_for_give_none() -> None:
    participant_certificate = fact(
        "CertificateIssued", certificateId=6, subjectKind=2, subject=1,
        certificateType="0x" + "00" * 32, issuer=SENDER, documentHash="0x" + "00" * 32,
        validFrom=0, validUntil=1, claimKeys=[], claimValues=[],
    )  # fmt: skip
    assert fact_event(participant_certificate, NAMES) is None
    assert fact_event(fact("CertificateRevoked", certificateId=6, issuer=SENDER), NAMES) is None
    assert fact_event(fact("ParticipantRolesChanged", account=SENDER, roles=1), NAMES) is None


@pytest.mark.unit
def test_the_events_expand_offline_with_our_namespace() -> None:
    events = [e for f, _ in FACTS if (e := fact_event(f, NAMES)) is not None]
    assert document_problems(document(events)) == []
    expanded = expand(document(events))
    text = repr(expanded)
    assert f"{NAMESPACE}blockNumber" in text
    assert "https://ref.gs1.org/cbv/BizStep-shipping" in text


# -- the consumer, on a real chain --------------------------------------------------------


def quarantine(net: Network, organisation: str, function: str, lot_id: int, reason: str) -> None:
    operation, _ = operation_queue(
        organisation=net.orgs[organisation],
        action=function,
        request={"lot_id": lot_id, "reason": reason},
        call=ContractCall(contract="Lots", function=function, args=(lot_id, reason)),
        lot_id=lot_id,
    )
    done(net, operation)


def open_handoff(net: Network, sender: str, receiver: str, lot_id: int, quantity: int) -> int:
    done(
        net,
        handoff_initiate(
            organisation=net.orgs[sender],
            lot_id=lot_id,
            receiver=net.orgs[receiver],
            quantity=quantity,
        ),
    )
    handoff = HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open")
    return int(handoff.handoff_id)


@pytest.fixture
def history(network: Network) -> dict[str, Any]:
    """The mine (GLN under a registered prefix) registers ore A (GTIN + batch, kg) and ore
    B (no GTIN, g); A is certified and handed to the refinery; a handoff of B is rejected,
    another cancelled; B is quarantined and cleared; the refinery turns A into chips
    (pieces), packs them on a pallet with an SSCC and unpacks it; A's certificate is
    revoked."""
    net = network
    mine = net.orgs["mine"]
    mine.gln, mine.gs1_company_prefix = MINE_GLN, PREFIX
    mine.save()
    ore_a = int(
        done(
            net,
            lot_register(
                organisation=mine, name="Ore A", quantity=1000, unit="kg", gtin=GTIN, batch="B1"
            ),
        ).lot_id
        or 0
    )
    ore_b = int(
        done(net, lot_register(organisation=mine, name="Ore B", quantity=500, unit="g")).lot_id or 0
    )
    certificate_a = certify(net, ore_a, 4)
    hand(net, "mine", "refinery", ore_a, 1000)
    rejected = open_handoff(net, "mine", "refinery", ore_b, 100)
    done(
        net,
        handoff_reject(organisation=net.orgs["refinery"], handoff_id=rejected, reason="wet"),
    )
    cancelled = open_handoff(net, "mine", "refinery", ore_b, 50)
    done(net, handoff_cancel(organisation=mine, handoff_id=cancelled))
    quarantine(net, "mine", "setQuarantine", ore_b, "humidity")
    quarantine(net, "mine", "clearQuarantine", ore_b, "dried")
    chips = int(
        done(
            net,
            transformation_record(
                organisation=net.orgs["refinery"],
                inputs=[(ore_a, 800)],
                process="refining run 1",
                outputs=[Output(name="Chips", quantity=600, unit="pieces")],
            ),
        ).lot_id
        or 0
    )
    pallet = int(
        done(
            net,
            bundle_create(
                organisation=net.orgs["refinery"], items=[(chips, 600)], name="Pallet", sscc=SSCC
            ),
        ).lot_id
        or 0
    )
    done(net, bundle_unpack(organisation=net.orgs["refinery"], bundle_id=pallet))
    done(
        net,
        certificate_revoke(
            organisation=net.orgs["certifier"], certificate_id=certificate_a, reason="withdrawn"
        ),
    )
    return {"net": net, "a": ore_a, "b": ore_b, "chips": chips, "pallet": pallet}


def rows_of(chain_event: str) -> list[EpcisEvent]:
    return list(
        EpcisEvent.objects.filter(
            document__contains={"provenant:chainEvent": chain_event}
        ).order_by("block_number", "log_index")
    )


def shape(row: EpcisEvent) -> tuple[str, str, str, str]:
    return (row.event_type, row.action, row.biz_step, row.disposition)


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_every_fact_of_the_mirror_is_stored_as_its_epcis_event(
    history: dict[str, Any],
) -> None:
    refinery = "urn:provenant:organisation:refinery"
    # Registrations: ore A by its LGTIN in kg, ore B by our URN in g, chips counted.
    registered = rows_of("LotRegistered")
    assert {shape(r) for r in registered} == {("ObjectEvent", "ADD", "commissioning", "active")}
    by_lot = {r.document.get("quantityList", [{}])[0].get("epcClass"): r for r in registered}
    assert by_lot[LGTIN].document["quantityList"] == [
        {"epcClass": LGTIN, "quantity": 1000, "uom": "KGM"}
    ]
    ore_b = f"urn:provenant:lot:{settings.CHAIN_ID}:{history['b']}"
    assert by_lot[ore_b].document["quantityList"] == [
        {"epcClass": ore_b, "quantity": 500, "uom": "GRM"}
    ]
    chips = lot_epc(history["chips"])
    assert chips == LotIdentity(f"urn:provenant:lot:{settings.CHAIN_ID}:{history['chips']}", False)
    assert any(r.document.get("epcList") == [SSCC_URN] for r in registered)  # the pallet

    shipped = rows_of("HandoffInitiated")
    assert {shape(r) for r in shipped} == {("ObjectEvent", "OBSERVE", "shipping", "in_transit")}
    first = shipped[0].document
    assert first["quantityList"] == [{"epcClass": LGTIN, "quantity": 1000, "uom": "KGM"}]
    assert first["sourceList"] == [{"type": "owning_party", "source": MINE_PGLN}]
    assert first["destinationList"] == [{"type": "owning_party", "destination": refinery}]
    assert LGTIN in shipped[0].epcs
    assert LGTIN in shipped[0].epc_classes
    assert [shape(r) for r in rows_of("HandoffAccepted")] == [
        ("ObjectEvent", "OBSERVE", "receiving", "in_progress")
    ]
    assert [shape(r) for r in rows_of("HandoffRejected")] == [
        ("ObjectEvent", "OBSERVE", "void_shipping", "returned")
    ]
    assert [shape(r) for r in rows_of("HandoffCancelled")] == [
        ("ObjectEvent", "OBSERVE", "void_shipping", "active")
    ]
    assert [shape(r) for r in rows_of("QuarantineSet")] == [
        ("ObjectEvent", "OBSERVE", "holding", "non_sellable_other")
    ]
    assert [shape(r) for r in rows_of("QuarantineCleared")] == [
        ("ObjectEvent", "OBSERVE", "inspecting", "conformant")
    ]
    (transformed,) = rows_of("LotsTransformed")
    assert shape(transformed) == ("TransformationEvent", "", "creating_class_instance", "active")
    assert transformed.input_epcs == []
    assert LGTIN in transformed.epc_classes
    assert transformed.document["outputQuantityList"] == [{"epcClass": chips.uri, "quantity": 600}]
    (packed,) = rows_of("LotsBundled")
    assert shape(packed) == ("AggregationEvent", "ADD", "packing", "")
    assert packed.parent_id == SSCC_URN
    assert packed.document["childQuantityList"] == [{"epcClass": chips.uri, "quantity": 600}]
    (unpacked,) = rows_of("LotsUnbundled")
    assert shape(unpacked) == ("AggregationEvent", "DELETE", "unpacking", "")
    issued, revoked = rows_of("CertificateIssued"), rows_of("CertificateRevoked")
    assert len(issued) == 1
    assert len(revoked) == 1
    assert issued[0].document["certificationInfo"] == revoked[0].document["certificationInfo"]
    assert revoked[0].document["quantityList"] == [{"epcClass": LGTIN}]

    rows = list(EpcisEvent.objects.order_by("block_number", "log_index"))
    assert {r.source for r in rows} == {EpcisEvent.Source.CHAIN}
    for row in rows:
        assert event_problems(row.document) == []
        assert row.event_hash == row.event_id == event_hash(row.document)
        chain_event = ChainEvent.objects.get(
            transaction_hash=row.transaction_hash, log_index=row.log_index
        )
        assert row.block_number == chain_event.block_number
        assert row.record_time == row.event_time == chain_event.block_timestamp
        assert row.document["provenant:blockNumber"] == str(chain_event.block_number)
    stored = [without_context(r.document) for r in rows]
    assert reference_hashes(document(copy.deepcopy(stored))) == [r.event_hash for r in rows]
    assert document_problems(document([r.document for r in rows])) == []
    assert expand(document([r.document for r in rows]))


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_replay_adds_nothing_and_a_rollback_forgets_the_blocks_that_left(
    history: dict[str, Any],
) -> None:
    before = {r.event_hash: r.block_number for r in EpcisEvent.objects.all()}
    events = list(ChainEvent.objects.order_by("id"))
    chain_facts_record(chain_id=settings.CHAIN_ID, events=events)
    assert {r.event_hash: r.block_number for r in EpcisEvent.objects.all()} == before

    revocation = ChainEvent.objects.get(event="CertificateRevoked")
    unpacking = ChainEvent.objects.get(event="LotsUnbundled")
    consumer_rollback(
        consumer=ChainFacts(), chain_id=settings.CHAIN_ID, to_block=unpacking.block_number
    )
    assert not rows_of("CertificateRevoked")
    assert len(rows_of("LotsUnbundled")) == 1
    assert len(EpcisEvent.objects.all()) == len(before) - 1

    history["net"].settle()  # the cursor went back with the rows: the block is stated again
    assert {r.event_hash: r.block_number for r in EpcisEvent.objects.all()} == before
    assert rows_of("CertificateRevoked")[0].block_number == revocation.block_number


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_reorg_takes_the_events_of_the_blocks_it_removed(network: Network) -> None:
    mine = network.orgs["mine"]
    kept = int(
        done(network, lot_register(organisation=mine, name="Ore", quantity=5, unit="t")).lot_id or 0
    )
    gone = int(
        done(network, lot_register(organisation=mine, name="Ore 2", quantity=7, unit="t")).lot_id
        or 0
    )
    urn = f"urn:provenant:lot:{settings.CHAIN_ID}"
    assert EpcisEvent.objects.filter(epc_classes__contains=[f"{urn}:{gone}"]).exists()
    response = network.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
    assert "error" not in response, response

    network.index()

    assert not EpcisEvent.objects.filter(epc_classes__contains=[f"{urn}:{gone}"]).exists()
    (row,) = EpcisEvent.objects.filter(epc_classes__contains=[f"{urn}:{kept}"])
    assert row.document["quantityList"] == [
        {"epcClass": f"{urn}:{kept}", "quantity": 5, "uom": "TNE"}
    ]
    # A lot the mirror knows nothing of yet is named by our URN, counted.
    assert lot_epc(10**30) == LotIdentity(f"{urn}:{10**30}", instance=False)


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_each_fact_names_its_lots_and_only_public_facts_are_public(
    history: dict[str, Any],
) -> None:
    """Who may see a chain event follows who may see its lots (the EPCIS query's tiers)."""
    a, b, chips, pallet = history["a"], history["b"], history["chips"], history["pallet"]

    def lots(chain_event: str) -> list[set[int]]:
        return [{int(i) for i in row.lot_ids} for row in rows_of(chain_event)]

    assert {a, b} <= set().union(*lots("LotRegistered"))
    assert all(row.public for row in rows_of("LotRegistered"))
    assert lots("HandoffAccepted") == [{a}]
    assert not any(row.public for row in rows_of("HandoffInitiated"))
    assert lots("LotsTransformed") == [{a, chips}]
    assert lots("LotsBundled") == [{pallet, chips}]
    assert lots("QuarantineSet") == [{b}]
    # A revocation names the certificate; its lot comes from the mirror.
    assert lots("CertificateRevoked") == [{a}]
    assert all(row.public for row in rows_of("CertificateRevoked"))


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_the_query_shows_a_member_the_chain_events_of_lots_it_touched_and_public_facts(
    history: dict[str, Any],
) -> None:
    def bizsteps(username: str) -> set[str]:
        client = Client()
        assert client.login(username=username, password=PASSWORD)
        response = client.get("/epcis/events", {"perPage": 1000})
        assert response.status_code == 200, response.content
        body = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return {event.get("bizStep", "") for event in body}

    # The refinery took ore A: it sees the handoff; the distributor never touched a lot.
    assert {"commissioning", "shipping", "receiving", "packing"} <= bizsteps("refinery")
    stranger = bizsteps("distributor")
    assert "commissioning" in stranger
    assert not stranger & {"shipping", "receiving", "packing", "unpacking"}
