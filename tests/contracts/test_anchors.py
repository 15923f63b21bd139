"""Anchors: any active participant dates an off-chain batch by anchoring its Merkle root.

An anchor is the pair (anchorer, root): each participant anchors a root once, and another
participant anchoring the same root (e.g. copied from a pending transaction) creates its own
anchor without taking anything from the first one's."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.chain.client import LocalSigner
from contracts.chain.domain import ascii32
from tests.contracts.consortium import MEMBERS, Consortium

pytestmark = pytest.mark.chain

ROOT = b"\xaa" * 32
OTHER_ROOT = b"\xbb" * 32
SENSOR_READINGS = ascii32("SENSOR_READINGS")
EPCIS = ascii32("EPCIS_DOCUMENTS")
URI = "https://mirror.example.org/batches/2025-06-01.jsonl"


def anchored_at(c: Consortium, who: LocalSigner, root: bytes) -> int:
    """The block in which `who` anchored `root` (0: never)."""
    return int(c.anchors.functions.anchoredAt(who.address, root).call())


def every_anchor(c: Consortium, roots: list[bytes]) -> dict[tuple[str, bytes], int]:
    signers = [*c.members.values(), c.stranger, c.admin]
    return {(s.address, r): anchored_at(c, s, r) for s in signers for r in roots}


def assert_refused(
    c: Consortium, signer: LocalSigner, call: Any, name: str, roots: list[bytes], **args: Any
) -> None:
    """`call` is mined, reverts with `name(**args)`, and no anchor changed."""
    before = every_anchor(c, roots)
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert every_anchor(c, roots) == before


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
    assert anchored_at(c, who, ROOT) == receipt["blockNumber"]
    assert anchored_at(c, who, OTHER_ROOT) == 0
    others = [m for name, m in c.members.items() if name != member]
    assert all(anchored_at(c, m, ROOT) == 0 for m in others)


def test_a_root_never_anchored_has_no_anchor(consortium: Consortium) -> None:
    c = consortium
    assert set(every_anchor(c, [ROOT, b"\x00" * 32]).values()) == {0}


def test_different_roots_keep_their_own_anchorer_and_block(consortium: Consortium) -> None:
    c = consortium
    first = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    second = c.act(c.distributor, c.anchors.functions.anchor(OTHER_ROOT, EPCIS, 0, ""))
    assert second["blockNumber"] > first["blockNumber"]
    assert anchored_at(c, c.reporter, ROOT) == first["blockNumber"]
    assert anchored_at(c, c.distributor, OTHER_ROOT) == second["blockNumber"]
    assert anchored_at(c, c.reporter, OTHER_ROOT) == anchored_at(c, c.distributor, ROOT) == 0
    (event,) = c.events(second, c.anchors, "RootAnchored")
    assert (event["kind"], event["itemCount"], event["uri"]) == (EPCIS, 0, "")


def test_a_participant_anchors_a_root_only_once(consortium: Consortium) -> None:
    c = consortium
    first = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    c.w3.provider.ethereum_tester.mine_blocks(3)  # type: ignore[attr-defined]

    assert_refused(
        c,
        c.reporter,
        c.anchors.functions.anchor(ROOT, EPCIS, 99, "elsewhere"),
        "RootAlreadyAnchored",
        [ROOT],
        anchorer=c.reporter.address,
        root=ROOT,
        blockNumber=first["blockNumber"],
    )
    assert anchored_at(c, c.reporter, ROOT) == first["blockNumber"]


def test_a_root_copied_by_someone_else_does_not_take_the_first_anchor(
    consortium: Consortium,
) -> None:
    """A front-runner who copies a pending root and lands first gets its own anchor only."""
    c = consortium
    copied = c.act(c.distributor, c.anchors.functions.anchor(ROOT, EPCIS, 99, "elsewhere"))
    honest = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))

    assert copied["blockNumber"] < honest["blockNumber"]
    (event,) = c.events(honest, c.anchors, "RootAnchored")
    assert event == {
        "root": ROOT,
        "kind": SENSOR_READINGS,
        "anchorer": c.reporter.address,
        "itemCount": 10,
        "uri": URI,
    }
    assert anchored_at(c, c.reporter, ROOT) == honest["blockNumber"]
    assert anchored_at(c, c.distributor, ROOT) == copied["blockNumber"]


def test_the_zero_root_is_refused(consortium: Consortium) -> None:
    c = consortium
    assert_refused(
        c,
        c.reporter,
        c.anchors.functions.anchor(b"\x00" * 32, SENSOR_READINGS, 10, URI),
        "InvalidRoot",
        [b"\x00" * 32],
    )
    assert anchored_at(c, c.reporter, b"\x00" * 32) == 0


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
    assert anchored_at(c, c.stranger, ROOT) == 0


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
    assert anchored_at(c, c.reporter, ROOT) == 0

    c.act(c.admin, c.lots.functions.reactivateParticipant(c.reporter.address))
    receipt = c.act(c.reporter, c.anchors.functions.anchor(ROOT, SENSOR_READINGS, 10, URI))
    assert anchored_at(c, c.reporter, ROOT) == receipt["blockNumber"]


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
    assert anchored_at(c, c.reporter, ROOT) == 0
    assert anchored_at(c, c.reporter, OTHER_ROOT) == first["blockNumber"]
