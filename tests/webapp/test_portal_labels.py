"""Words for the chain's constants and operations, without a chain: certificate types and
claims as people read them, and the title and outcome of every kind of operation."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.chain.domain import ascii32
from webapp.formatting.labels import (
    certificate_type_label,
    claim_label,
    claim_lines,
    claim_value,
)
from webapp.operations.titles import (
    CertificateFacts,
    Facts,
    HandoffFacts,
    LotLabel,
    operation_outcome,
    operation_title,
)

pytestmark = pytest.mark.unit

MINE, REFINERY = "0x" + "11" * 20, "0x" + "22" * 20


def hex32(name: str) -> str:
    return "0x" + ascii32(name).hex()


def test_certificate_types_and_claims_read_as_words_whether_named_or_hex() -> None:
    assert certificate_type_label("CARBON_FOOTPRINT") == "Carbon footprint"
    assert certificate_type_label(hex32("RESPONSIBLE_SOURCING")) == (
        "Responsible sourcing (due diligence)"
    )
    assert certificate_type_label(hex32("ISO_14001")) == "Iso 14001"  # unknown: still words
    assert claim_label("co2e_g_per_unit") == claim_label(hex32("CO2E_G_PER_UNIT"))
    assert claim_label("co2e_g_per_unit") == "Carbon footprint"
    assert claim_value("co2e_g_per_unit", 1200, "kg") == "1.2 kg CO2e per kg"
    assert claim_value("RECYCLED_PERMILLE", 125) == "12.5%"
    assert claim_lines({hex32("RECYCLED_PERMILLE"): 850, hex32("CO2E_G_PER_UNIT"): 40}, "pcs") == [
        ("Carbon footprint", "40 g CO2e per pc"),
        ("Recycled content", "85.0%"),
    ]


FACTS = Facts(
    names={MINE: "Katanga Cobalt Mine", REFINERY: "Nordic Refinery"},
    slugs={"mine": "Katanga Cobalt Mine", "refinery": "Nordic Refinery"},
    lots={1001: LotLabel("Cobalt ore", "kg"), 1004: LotLabel("Pallet", "bundle")},
    handoffs={8: HandoffFacts(lot_id=1001, sender=MINE, receiver=REFINERY, quantity=400)},
    certificates={3: CertificateFacts(certificate_type=hex32("CARBON_FOOTPRINT"), lot_id=1001)},
)
ORE = "\u2018Cobalt ore\u2019"


@pytest.mark.parametrize(
    ("action", "request_", "title"),
    [
        (
            "lot.register",
            {"name": "Cobalt ore, pit 9", "quantity": 1200, "unit": "kg"},
            "Register lot \u2018Cobalt ore, pit 9\u2019 (1.2 t)",
        ),
        (
            "handoff.initiate",
            {"lot_id": 1001, "receiver": "refinery", "quantity": 400},
            f"Hand off 400 kg of lot 1001 {ORE} to Nordic Refinery",
        ),
        (
            "handoff.accept",
            {"handoff_id": 8, "reason": ""},
            "Accept handoff 8 (400 kg of lot 1001 from Katanga Cobalt Mine)",
        ),
        (
            "handoff.reject",
            {"handoff_id": 8, "reason": "wet"},
            "Reject handoff 8 (400 kg of lot 1001 from Katanga Cobalt Mine): wet",
        ),
        (
            "handoff.cancel",
            {"handoff_id": 8, "reason": ""},
            "Cancel handoff 8 (400 kg of lot 1001 to Nordic Refinery)",
        ),
        (
            "bundle.create",
            {"items": [[1001, 100], [1002, 3]], "name": "Pallet", "sscc": ""},
            "Pack 100 kg of lot 1001 and 3 units of lot 1002 into bundle \u2018Pallet\u2019",
        ),
        ("bundle.unpack", {"bundle_id": 1004}, "Unpack bundle 1004 \u2018Pallet\u2019"),
        (
            "transformation.record",
            {
                "inputs": [[1001, 300]],
                "outputs": [{"name": "Cobalt sulphate", "quantity": 200, "unit": "kg"}],
                "process": "leach 4",
            },
            "Turn 300 kg of lot 1001 into \u2018Cobalt sulphate\u2019 (200 kg)",
        ),
        (
            "certificate.issue",
            {"lot_id": 1001, "certificate_type": "CARBON_FOOTPRINT", "claims": {}},
            f"Certify lot 1001 {ORE}: carbon footprint",
        ),
        (
            "certificate.revoke",
            {"certificate_id": 3, "reason": "forged"},
            "Revoke certificate 3 (carbon footprint, lot 1001): forged",
        ),
        (
            "organisation.register",
            {"organisation": "refinery", "roles": ["MANUFACTURER"]},
            "Register Nordic Refinery on the chain (manufacturer)",
        ),
        (
            "organisation.rotate_key",
            {"organisation": "mine", "from": MINE, "to": REFINERY},
            "Give Katanga Cobalt Mine a new signing key",
        ),
        (
            "organisation.retire_key",
            {"organisation": "mine", "address": MINE},
            "Retire an old signing key of Katanga Cobalt Mine",
        ),
        ("setQuarantine", {"lot_id": 1001}, "Set quarantine (lot 1001)"),
    ],
)
def test_every_kind_of_operation_has_a_plain_title(
    action: str, request_: dict[str, Any], title: str
) -> None:
    lot_id = request_.get("lot_id")
    assert operation_title(action=action, request=request_, facts=FACTS, lot_id=lot_id) == title


def test_an_answer_to_a_handoff_the_mirror_lost_is_titled_from_what_it_expected() -> None:
    expects = {"handoff": {"id": 9, "lot_id": "1001", "sender": MINE, "receiver": REFINERY}}
    expects["handoff"]["quantity"] = "5"
    title = operation_title(
        action="handoff.accept", request={"handoff_id": 9}, facts=FACTS, expects=expects
    )
    assert title == "Accept handoff 9 (5 kg of lot 1001 from Katanga Cobalt Mine)"
    # A request of a shape the titles do not know still gets words, never an exception.
    assert operation_title(action="handoff.initiate", request={}, facts=FACTS) == (
        "Handoff initiate"
    )


@pytest.mark.parametrize(
    ("event", "args", "text", "lot_id", "certificate_id"),
    [
        ("LotRegistered", {"lotId": 1005, "quantity": 5}, "Lot 1005 registered", 1005, None),
        (
            "HandoffInitiated",
            {"handoffId": 8, "lotId": 1001, "quantity": 400, "receiver": REFINERY},
            "Handoff 8 opened: 400 kg of lot 1001 offered to Nordic Refinery",
            1001,
            None,
        ),
        (
            "HandoffAccepted",
            {"handoffId": 8, "lotId": 1001, "quantity": 400, "receiver": REFINERY},
            "Handoff 8 accepted: Nordic Refinery holds 400 kg of lot 1001",
            1001,
            None,
        ),
        (
            "LotsTransformed",
            {"transformationId": 2, "outputIds": [1006, 1007]},
            "Transformation 2 recorded: lots 1006, 1007 made",
            1006,
            None,
        ),
        (
            "CertificateIssued",
            {"certificateId": 3, "subject": 1001, "subjectKind": 1},
            "Certificate 3 issued for lot 1001",
            1001,
            None,
        ),
        ("CertificateRevoked", {"certificateId": 3}, "Certificate 3 revoked", None, 3),
    ],
)
def test_a_confirmed_operation_says_what_happened_and_what_to_open(
    event: str, args: dict[str, Any], text: str, lot_id: int | None, certificate_id: int | None
) -> None:
    outcome = operation_outcome(
        status="confirmed", error="", lot_id=None, events=[(event, args)], facts=FACTS
    )
    assert outcome is not None
    assert (outcome.text, outcome.lot_id, outcome.certificate_id) == (
        text,
        lot_id,
        certificate_id,
    )


def test_an_outcome_is_none_on_the_way_and_the_reason_once_failed() -> None:
    assert operation_outcome(status="mined", error="", lot_id=1, events=[], facts=FACTS) is None
    failed = operation_outcome(status="failed", error="no stock", lot_id=1, events=[], facts=FACTS)
    assert failed is not None
    assert (failed.text, failed.lot_id) == ("no stock", None)
