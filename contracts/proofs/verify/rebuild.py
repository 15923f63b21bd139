"""The summary sections an evidence pack's proven events add up to.

The events are replayed in chain order into the chain state they prove (:class:`_Facts`),
by the rules the web app applies to its mirror, and every section (lineage, custody,
certificates with their status at the pack's moment, quarantines, and the figures by
:func:`contracts.proofs.figures.roll_up` itself) is built from that state alone. What the pack
states is compared with them in :mod:`contracts.proofs.verify.summary`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from contracts.chain.domain import LotKind
from contracts.proofs.figures import LotFacts, Part, ValidCertificate, roll_up
from contracts.proofs.verify.report import ProvenEvent

MAX_DEPTH = 64  # the web app's trace cap
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, as the mirror clamps validity
KIND_NAMES = {k.value: k.name.replace("_", " ").lower() for k in LotKind}


def type_name(value: str) -> str:
    """A bytes32 certificate type or claim key as its ASCII name ("CARBON_FOOTPRINT")."""
    try:
        return bytes.fromhex(value.removeprefix("0x")).rstrip(b"\0").decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return value


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(min(timestamp, MAX_TIMESTAMP), tz=UTC).isoformat()


# ---------------------------------------------------------------- the proven facts


@dataclass
class _Certificate:
    args: dict[str, Any]
    revoked: bool = False
    reason: str = ""

    @property
    def valid_from(self) -> int:
        return min(int(self.args["validFrom"]), MAX_TIMESTAMP)

    @property
    def valid_until(self) -> int:
        return min(int(self.args["validUntil"]), MAX_TIMESTAMP)

    def claims(self) -> dict[str, int]:
        raw = dict(zip(self.args["claimKeys"], self.args["claimValues"], strict=True))
        return {type_name(k): int(v) for k, v in raw.items()}

    def status(self, moment: int) -> str:
        if self.revoked:
            return "revoked"
        if moment < self.valid_from:
            return "not yet valid"
        if moment >= self.valid_until:
            return "expired"
        return "valid"

    def json(self) -> dict[str, Any]:
        a = self.args
        return {
            "certificate_id": int(a["certificateId"]),
            "lot_id": int(a["subject"]),
            "certificate_type": type_name(a["certificateType"]),
            "issuer": a["issuer"],
            "document_hash": a["documentHash"],
            "valid_from": _iso(int(a["validFrom"])),
            "valid_until": _iso(int(a["validUntil"])),
            "claims": self.claims(),
            "revoked": self.revoked,
            "revoke_reason": self.reason,
        }


@dataclass(frozen=True)
class _Edge:
    parent: int
    child: int
    kind: str
    transformation_id: int | None
    quantity: int
    output_quantity: int
    block: int
    log: int
    until: int | None = None

    def json(self) -> dict[str, Any]:
        return {
            "from": self.parent,
            "to": self.child,
            "kind": self.kind,
            "transformation_id": self.transformation_id,
            "quantity": self.quantity,
            "output_quantity": self.output_quantity,
            "block_number": self.block,
            "log_index": self.log,
            "until_block": self.until,
        }


@dataclass
class _Facts:
    """The chain state the proven events add up to, replayed in chain order."""

    lots: dict[int, dict[str, Any]] = field(default_factory=dict)
    certificates: dict[int, _Certificate] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    outputs: dict[int, dict[int, int]] = field(default_factory=dict)
    quarantines: list[ProvenEvent] = field(default_factory=list)
    handoffs: list[ProvenEvent] = field(default_factory=list)

    @classmethod
    def replay(cls, events: list[ProvenEvent]) -> _Facts:
        facts = cls()
        open_contents: _OpenContents = defaultdict(list)
        for e in events:
            apply = _APPLY.get(e.event)
            if apply is not None:
                apply(facts, e, open_contents)
            elif e.event.startswith("Handoff"):
                facts.handoffs.append(e)
        return facts


_OpenContents = dict[int, list[int]]  # bundle -> positions in `_Facts.edges` of its contents


def _lot_registered(facts: _Facts, e: ProvenEvent, _: _OpenContents) -> None:
    a = e.args
    facts.lots[int(a["lotId"])] = {
        "kind": int(a["kind"]),
        "owner": a["owner"],
        "quantity": int(a["quantity"]),
        "quarantined": False,
    }


def _quarantine(facts: _Facts, e: ProvenEvent, _: _OpenContents) -> None:
    facts.quarantines.append(e)
    if (lot := facts.lots.get(int(e.args["lotId"]))) is not None:
        lot["quarantined"] = e.event == "QuarantineSet"


def _certificate_issued(facts: _Facts, e: ProvenEvent, _: _OpenContents) -> None:
    facts.certificates[int(e.args["certificateId"])] = _Certificate(args=e.args)


def _certificate_revoked(facts: _Facts, e: ProvenEvent, _: _OpenContents) -> None:
    if (c := facts.certificates.get(int(e.args["certificateId"]))) is not None:
        c.revoked, c.reason = True, str(e.args.get("reason", ""))


def _lots_transformed(facts: _Facts, e: ProvenEvent, _: _OpenContents) -> None:
    a = e.args
    t = int(a["transformationId"])
    outputs = dict(zip(a["outputIds"], a["outputQuantities"], strict=True))
    facts.outputs[t] = {int(k): int(v) for k, v in outputs.items()}
    for i, iq in zip(a["inputIds"], a["inputQuantities"], strict=True):
        for o, oq in zip(a["outputIds"], a["outputQuantities"], strict=True):
            facts.edges.append(_Edge(int(i), int(o), "transform", t, int(iq), int(oq), *_at(e)))


def _lots_bundled(facts: _Facts, e: ProvenEvent, open_contents: _OpenContents) -> None:
    a = e.args
    bundle = int(a["bundleId"])
    for lot_id, qty in zip(a["lotIds"], a["quantities"], strict=True):
        open_contents[bundle].append(len(facts.edges))
        facts.edges.append(_Edge(int(lot_id), bundle, "bundle", None, int(qty), 1, *_at(e)))


def _lots_unbundled(facts: _Facts, e: ProvenEvent, open_contents: _OpenContents) -> None:
    for position in open_contents.pop(int(e.args["bundleId"]), []):
        edge = facts.edges[position]
        facts.edges[position] = replace(edge, until=e.block_number)


# What each event does to the facts (handoffs, by name prefix, are only collected).
_APPLY: dict[str, Callable[[_Facts, ProvenEvent, _OpenContents], None]] = {
    "LotRegistered": _lot_registered,
    "QuarantineSet": _quarantine,
    "QuarantineCleared": _quarantine,
    "CertificateIssued": _certificate_issued,
    "CertificateRevoked": _certificate_revoked,
    "LotsTransformed": _lots_transformed,
    "LotsBundled": _lots_bundled,
    "LotsUnbundled": _lots_unbundled,
}


def _at(e: ProvenEvent) -> tuple[int, int]:
    return e.block_number, e.log_index


# ------------------------------------------------------------------------ rebuild


@dataclass
class Rebuilt:
    """The summary the proofs support, and where each custody entry comes from."""

    sections: dict[str, Any]
    custody_sources: list[str]


def rebuild(events: list[ProvenEvent], *, lot_id: int, as_of: int, moment: int) -> Rebuilt:
    """Every summary section of `lot_id`'s pack, from proven events only, as of block
    `as_of` whose timestamp is `moment`."""
    facts = _Facts.replay(events)
    by_child: dict[int, list[_Edge]] = defaultdict(list)
    for edge in facts.edges:
        by_child[edge.child].append(edge)

    # The upstream walk, breadth first: a lot's depth is its shortest distance.
    nodes = {lot_id: 0}
    walked: dict[tuple[int, int, int, int], _Edge] = {}
    frontier = [lot_id]
    for depth in range(MAX_DEPTH):
        reached: list[int] = []
        for node in frontier:
            for edge in by_child.get(node, []):
                walked[(edge.parent, edge.child, edge.block, edge.log)] = edge
                if edge.parent not in nodes:
                    nodes[edge.parent] = depth + 1
                    reached.append(edge.parent)
        frontier = reached
    edges = sorted(walked.values(), key=lambda e: (e.block, e.log, e.parent, e.child))

    certificates_of: dict[int, list[_Certificate]] = defaultdict(list)
    for certificate_id in sorted(facts.certificates):
        c = facts.certificates[certificate_id]
        if int(c.args["subjectKind"]) == 1:
            certificates_of[int(c.args["subject"])].append(c)

    lineage_nodes = [
        {
            "lot_id": n,
            "kind": KIND_NAMES.get(facts.lots[n]["kind"], ""),
            "quantity": facts.lots[n]["quantity"],
            "creator": facts.lots[n]["owner"],
            "quarantined": facts.lots[n]["quarantined"],
            "certificates": [c.json() for c in certificates_of[n]],
            "depth": d,
        }
        for n, d in sorted(nodes.items(), key=lambda item: (item[1], item[0]))
        if n in facts.lots
    ]
    lineage = {
        "lot_id": lot_id,
        "direction": "up",
        "depth": MAX_DEPTH,
        "as_of_block": None,
        "reached_depth_cap": any(d == MAX_DEPTH for d in nodes.values()),
        "nodes": lineage_nodes,
        "edges": [e.json() for e in edges],
    }
    certificates = [
        {**c.json(), "status": c.status(moment)}
        for n in sorted(certificates_of)
        if n in nodes
        for c in certificates_of[n]
    ]
    certificates.sort(key=lambda c: c["certificate_id"])
    quarantines = [
        {
            "lot_id": int(e.args["lotId"]),
            "event": e.event,
            "reason": e.args.get("reason", ""),
            "block_number": e.block_number,
            "transaction_hash": e.transaction_hash,
        }
        for e in facts.quarantines
        if int(e.args["lotId"]) in nodes
    ]
    custody, sources = _custody(facts, lot_id)
    sections = {
        "lineage": lineage,
        "custody": custody,
        "certificates": certificates,
        "quarantines": quarantines,
        "figures": _figures(facts, lot_id, nodes, edges, certificates_of, as_of, moment),
    }
    return Rebuilt(sections=sections, custody_sources=sources)


def _custody(facts: _Facts, lot_id: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The lot's handoffs, and each bundle's while the bundle held it (from its packing
    block up to, not including, its unpacking block)."""
    windows = [
        (e.child, e.block, e.until)
        for e in facts.edges
        if e.kind == "bundle" and e.parent == lot_id
    ]

    def carries(e: ProvenEvent) -> bool:
        carrier = int(e.args["lotId"])
        return carrier == lot_id or any(
            carrier == bundle and e.block_number >= start and (end is None or e.block_number < end)
            for bundle, start, end in windows
        )

    steps: dict[int, list[ProvenEvent]] = {}
    for e in facts.handoffs:
        if not carries(e):
            continue
        handoff = int(e.args["handoffId"])
        if e.event == "HandoffInitiated":
            steps[handoff] = [e]
        elif handoff in steps and len(steps[handoff]) == 1:
            steps[handoff].append(e)

    def moment(e: ProvenEvent) -> dict[str, Any]:
        return {
            "block_number": e.block_number,
            "timestamp": _iso(e.timestamp),
            "transaction_hash": e.transaction_hash,
            "log_index": e.log_index,
        }

    custody: list[dict[str, Any]] = []
    sources: list[str] = []
    for handoff, (offered, *settled) in steps.items():
        a = offered.args
        custody.append(
            {
                "handoff_id": handoff,
                "carried_by": int(a["lotId"]),
                "sender": a["sender"],
                "receiver": a["receiver"],
                "quantity": int(a["quantity"]),
                "status": settled[0].event.removeprefix("Handoff").lower() if settled else "open",
                "offered": moment(offered),
                "settled": moment(settled[0]) if settled else None,
            }
        )
        names = ", ".join(e.event for e in (offered, *settled))
        sources.append(f"the proven handoff {handoff} ({names})")
    return custody, sources


def _figures(
    facts: _Facts,
    lot_id: int,
    nodes: dict[int, int],
    edges: list[_Edge],
    certificates_of: dict[int, list[_Certificate]],
    as_of: int,
    moment: int,
) -> dict[str, Any]:
    lots: dict[int, LotFacts] = {}
    for n in nodes:
        if n not in facts.lots:
            continue
        lots[n] = LotFacts(
            quantity=facts.lots[n]["quantity"],
            valid=[
                ValidCertificate(certificate_id=int(c.args["certificateId"]), claims=c.claims())
                for c in certificates_of[n]
                if not c.revoked and c.valid_from <= moment < c.valid_until
            ],
        )
    for edge in edges:
        facts_of = lots.get(edge.child)
        if facts_of is None:
            continue
        part = Part(edge.parent, edge.quantity, edge.transformation_id)
        if edge.kind == "bundle":
            facts_of.contents.append(part)
        else:
            facts_of.inputs.append(part)
            assert edge.transformation_id is not None
            facts_of.outputs_total = sum(facts.outputs[edge.transformation_id].values())
    f = roll_up(lots, [lot_id])[lot_id]
    return {
        "lot_id": lot_id,
        "as_of_block": as_of,
        "carbon_footprint_g_co2e_per_unit": str(f.footprint_g_per_unit),
        "carbon_footprint_complete": f.footprint_complete,
        "recycled_content_permille": str(f.recycled_permille),
        "certified_input_share": str(f.certified_input_share),
        "certificates_used": f.certificates,
        "transformations_crossed": f.transformations,
    }
