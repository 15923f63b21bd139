"""Anchors: any active participant dates an off-chain batch by anchoring its Merkle root once."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.chain import LocalSigner
from contracts.domain import ascii32
from tests.contracts.consortium import MEMBERS, Consortium

pytestmark = pytest.mark.chain

ROOT = b"\xaa" * 32
OTHER_ROOT = b"\xbb" * 32
SENSOR_READINGS = ascii32("SENSOR_READINGS")
EPCIS = ascii32("EPCIS_DOCUMENTS")
URI = "https://mirror.example.org/batches/2025-06-01.jsonl"
ZERO_ADDRESS = "0x" + "00" * 20
NOTHING = (ZERO_ADDRESS, 0)


def anchor_of(c: Consortium, root: bytes) -> tuple[str, int]:
    anchorer, block = c.anchors.functions.anchorOf(root).call()
    return str(anchorer), int(block)


def assert_refused(
    c: Consortium, signer: LocalSigner, call: Any, name: str, roots: list[bytes], **args: Any
) -> None:
    """`call` is mined, reverts with `name(**args)`, and no anchor changed."""
    before = [anchor_of(c, r) for r in roots]
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert [anchor_of(c, r) for r in roots] == before


@pytest.mark.parametrize("member", list(MEMBERS))
def test_any_active_participant_anchors_a_root(consortium: Consortium, member: str) -> None:
    c = consortium
    who = c.members[member]
    receipt = c.act(who, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 1024, URI))

    (event,) = c.events(receipt, c.anchors, "RootAnchored")
    assert event == {
        "root": ROOT,
        "kind": SENSOR_READINGS,
        "anchorer": who.address,
        "itemCount": 1024,
        "uri": URI,
    }
    assert anchor_of(c, ROOT) == (who.address, receipt["blockNumber"])
    assert anchor_of(c, OTHER_ROOT) == NOTHING


def test_a_root_never_anchored_has_no_anchorer(consortium: Consortium) -> None:
    c = consortium
    assert anchor_of(c, ROOT) == NOTHING
    assert anchor_of(c, b"\x00" * 32) == NOTHING


def test_different_roots_keep_their_own_anchorer_and_block(consortium: Consortium) -> None:
    c = consortium
    first = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    second = c.act(c.distributor, c.anchors.functions.anchor(OTHER_ROOT, EPCIS, 0, ""))
    assert second["blockNumber"] > first["blockNumber"]
    assert anchor_of(c, ROOT) == (c.reporter.address, first["blockNumber"])
    assert anchor_of(c, OTHER_ROOT) == (c.distributor.address, second["blockNumber"])
    (event,) = c.events(second, c.anchors, "RootAnchored")
    assert (event["kind"], event["itemCount"], event["uri"]) == (EPCIS, 0, "")


def test_a_root_is_anchored_only_once(consortium: Consortium) -> None:
    c = consortium
    first = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    c.w3.provider.ethereum_tester.mine_blocks(3)  # type: ignore[attr-defined]

    for who in (c.reporter, c.auditor):
        assert_refused(
            c,
            who,
            c.anchors.functions.anchor(ROOT, EPCIS, 99, "elsewhere"),
            "RootAlreadyAnchored",
            [ROOT],
            root=ROOT,
            blockNumber=first["blockNumber"],
        )
    assert anchor_of(c, ROOT) == (c.reporter.address, first["blockNumber"])


def test_the_zero_root_is_refused(consortium: Consortium) -> None:
    c = consortium
    assert_refused(
        c,
        c.reporter,
        c.anchors.functions.anchor(b"\x00" * 32, SENSOR_READINGS, 10, URI),
        "InvalidRoot",
        [b"\x00" * 32],
    )
    assert anchor_of(c, b"\x00" * 32) == NOTHING


def test_a_stranger_cannot_anchor(consortium: Consortium) -> None:
    c = consortium
    assert_refused(
        c,
        c.stranger,
        c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI),
        "UnknownParticipant",
        [ROOT],
        account=c.stranger.address,
    )
    assert anchor_of(c, ROOT) == NOTHING


def test_the_admin_is_not_a_participant_and_cannot_anchor(consortium: Consortium) -> None:
    c = consortium
    assert_refused(
        c,
        c.admin,
        c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI),
        "UnknownParticipant",
        [ROOT],
        account=c.admin.address,
    )


def test_a_suspended_participant_cannot_anchor(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.suspendParticipant(c.reporter.address, "key compromised"))
    assert_refused(
        c,
        c.reporter,
        c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI),
        "SuspendedParticipant",
        [ROOT],
        account=c.reporter.address,
    )
    assert anchor_of(c, ROOT) == NOTHING

    c.act(c.admin, c.lots.functions.reactivateParticipant(c.reporter.address))
    receipt = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    assert anchor_of(c, ROOT) == (c.reporter.address, receipt["blockNumber"])


def test_nothing_is_anchored_while_the_system_is_paused(consortium: Consortium) -> None:
    c = consortium
    first = c.act(c.reporter, c.anchors.functions.anchor(OTHER_ROOT, EPCIS, 1, URI))
    c.act(c.admin, c.lots.functions.pause())
    assert_refused(
        c,
        c.reporter,
        c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI),
        "SystemPaused",
        [ROOT, OTHER_ROOT],
    )
    assert anchor_of(c, ROOT) == NOTHING
    assert anchor_of(c, OTHER_ROOT) == (c.reporter.address, first["blockNumber"])
