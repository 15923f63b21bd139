"""An evidence pack's summary, rebuilt from its proven facts alone and compared.

A reader looks at the summary (lineage, custody, certificates and their status,
quarantines, figures), not at the proofs. So every claim in it is rebuilt from the
events whose proofs held (:mod:`contracts.proofs.verify.rebuild`, by the rules the web app applies
to its mirror), compared here, and a pack whose summary differs is rejected,
naming the claim: ``custody[0].receiver differs from the proven handoff 3 (HandoffInitiated,
HandoffAccepted): …``. Each section must be present and hold nothing the proofs do not
support; the keys of the pack itself are a closed set.

The moment a pack speaks for is its ``as_of`` block, whose header it carries: certificate
status and the figures' validity are judged at that header's timestamp, and no proven
event may come after it. A ``public`` pack leaves out what the public passport hides (lot
creators' addresses, certificates' document hashes, holders); a ``participant`` pack
carries them. Either way, what it does carry must match.

Not proven, and reported as notes: organisation and lot names (``labels``: the chain knows
addresses and metadata hashes, not names), a participant pack's ``holders`` (the mirror's
balances) and ``generated_at``. Nor can any offline check prove that a pack left no fact
out (a later revocation, say): the proofs show what happened, not that nothing else did.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.proofs.verify.decoding import fragment_key, same_json
from contracts.proofs.verify.rebuild import Rebuilt, rebuild
from contracts.proofs.verify.report import MalformedProof, ProvenEvent

if TYPE_CHECKING:
    from contracts.proofs.verify.proofs import Checker

PACK_FORMAT = "provenant-evidence/2"
SECTIONS = ("lineage", "custody", "certificates", "quarantines", "figures")
PACK_KEYS = frozenset(
    {"format", "tier", "generated_at", "chain_id", "contracts", "lot_id", "as_of", "labels"}
    | {"holders", "proofs"}
    | set(SECTIONS)
)
#: Fields a tier leaves out of the summary (the public passport does not show them).
HIDDEN = {"public": frozenset({"creator", "document_hash"}), "participant": frozenset()}
EMITTERS = {
    "Certificates": ("CertificateIssued", "CertificateRevoked"),
    "Lots": (
        "LotRegistered",
        "HandoffInitiated",
        "HandoffAccepted",
        "HandoffRejected",
        "HandoffCancelled",
        "LotsBundled",
        "LotsUnbundled",
        "LotsTransformed",
        "QuarantineSet",
        "QuarantineCleared",
    ),
}
MAX_DIFFERENCES = 20
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def is_evidence_pack(doc: Mapping[str, Any]) -> bool:
    """Whether a document with proofs is an evidence pack (whose summary is checked)
    rather than a bare list of proofs."""
    return str(doc.get("format", "")).startswith("provenant-evidence/") or any(
        key in doc for key in SECTIONS
    )


def without(value: Any, hidden: frozenset[str]) -> Any:
    """`value` with the keys a tier hides removed, at every level."""
    if isinstance(value, dict):
        return {k: without(v, hidden) for k, v in value.items() if k not in hidden}
    if isinstance(value, list):
        return [without(v, hidden) for v in value]
    return value


# ---------------------------------------------------------------------- compare

_SOURCES = {
    "lineage": "the proven LotRegistered, LotsTransformed, LotsBundled, quarantine and "
    "certificate events",
    "certificates": "the proven CertificateIssued and CertificateRevoked events",
    "quarantines": "the proven QuarantineSet and QuarantineCleared events",
    "figures": "the figures recomputed from the proven lineage and certificates",
    "custody": "the proven handoff events",
}


def differences(stated: Any, proven: Any, path: str) -> Iterator[tuple[str, str]]:
    """(claim, what differs) for every place `stated` departs from `proven`."""
    if isinstance(proven, dict) and isinstance(stated, dict):
        for key in proven:
            if key not in stated:
                yield f"{path}.{key}", "is missing from the pack"
            else:
                yield from differences(stated[key], proven[key], f"{path}.{key}")
        for key in stated:
            if key not in proven:
                yield f"{path}.{key}", "is not a claim the proofs support"
        return
    if isinstance(proven, list) and isinstance(stated, list):
        for i, (s, p) in enumerate(zip(stated, proven, strict=False)):
            yield from differences(s, p, f"{path}[{i}]")
        if len(stated) != len(proven):
            yield path, f"lists {len(stated)} entries, the proofs {len(proven)}"
        return
    if not same_json(stated, proven):
        yield path, f"the pack says {_show(stated)}, the proofs say {_show(proven)}"


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _source(path: str, rebuilt: Rebuilt) -> str:
    section = path.split(".")[0].split("[")[0]
    if section == "custody" and path.startswith("custody["):
        index = int(path[len("custody[") : path.index("]")])
        if index < len(rebuilt.custody_sources):
            return rebuilt.custody_sources[index]
    return _SOURCES.get(section, "the proven events")


# ------------------------------------------------------------------------ check


def check_summary(checker: Checker, doc: Mapping[str, Any]) -> None:
    """Rebuild the pack's summary from the checker's proven events and compare."""
    try:
        _check(checker, doc)
    except MalformedProof as exc:
        checker.fact("summary", "document", False, f"malformed evidence pack: {exc}")


def _check(checker: Checker, doc: Mapping[str, Any]) -> None:
    fact = checker.fact
    if doc.get("format") != PACK_FORMAT:
        fact(
            "summary",
            "format",
            False,
            f"unknown evidence pack format {doc.get('format')!r}: this verifier checks "
            f"{PACK_FORMAT!r} summaries; download the pack again",
        )
        return
    unknown = sorted(set(doc) - PACK_KEYS)
    if unknown:
        fact(
            "summary",
            "document",
            False,
            f"the pack carries {', '.join(unknown)}, which no proof supports",
        )
    tier = doc.get("tier")
    if tier not in HIDDEN:
        raise MalformedProof(f"'tier' is {tier!r}, not one of {', '.join(HIDDEN)}")
    lot_id = doc.get("lot_id")
    if type(lot_id) is not int:
        raise MalformedProof("'lot_id' is not an integer")
    as_of, moment = _as_of(checker, doc.get("as_of"))
    if as_of is None:
        return
    events = _trusted_events(checker, doc, as_of)
    if not any(e.event == "LotRegistered" and int(e.args["lotId"]) == lot_id for e in events):
        fact("summary", "lot_id", False, f"no proven LotRegistered event for lot {lot_id}")
        return
    try:
        rebuilt = rebuild(events, lot_id=lot_id, as_of=as_of, moment=moment)
    except (KeyError, TypeError, ValueError) as exc:  # fragments not pinned (no artifacts)
        fact(
            "summary",
            "document",
            False,
            f"the proven events do not carry the system's arguments ({exc!r}): pass --abi",
        )
        return
    hidden = HIDDEN[str(tier)]
    shown = {k: without(v, hidden) for k, v in rebuilt.sections.items()}
    checker.report.recomputed = {
        "tier": tier,
        "lot_id": lot_id,
        "as_of_block": as_of,
        **shown,
        "labels": _labels(doc.get("labels")),
    }
    _compare_sections(checker, doc, shown, rebuilt)
    _notes(checker, doc, as_of)


def _compare_sections(
    checker: Checker, doc: Mapping[str, Any], shown: Mapping[str, Any], rebuilt: Rebuilt
) -> None:
    """One fact per section the proofs support, or one per difference (at most
    MAX_DIFFERENCES over the whole pack)."""
    fact = checker.fact
    found = 0
    for section in SECTIONS:
        if section not in doc:
            fact("summary", section, False, f"the pack has no {section} section")
            continue
        wrong = list(differences(doc[section], shown[section], section))
        for path, what in wrong[: max(MAX_DIFFERENCES - found, 0)]:
            fact("summary", path, False, f"{path} differs from {_source(path, rebuilt)}: {what}")
        found += len(wrong)
        if not wrong:
            fact("summary", section, True, f"rebuilt from the proofs: {_count(shown[section])}")


def _labels(labels: Any) -> dict[str, dict[str, Any]]:
    """The pack's names, kept only where they are text (they are shown, never trusted)."""
    labels = labels if isinstance(labels, Mapping) else {}
    organisations, lots = labels.get("organisations"), labels.get("lots")
    return {
        "organisations": {
            str(k): v for k, v in dict(organisations or {}).items() if isinstance(v, str)
        }
        if isinstance(organisations, Mapping)
        else {},
        "lots": {str(k): v for k, v in dict(lots or {}).items() if isinstance(v, Mapping)}
        if isinstance(lots, Mapping)
        else {},
    }


def _count(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} entries"
    if isinstance(value, dict) and "nodes" in value:
        return f"{len(value['nodes'])} lots, {len(value['edges'])} links"
    return "every figure"


def _as_of(checker: Checker, as_of: Any) -> tuple[int | None, int]:
    """The pack's as-of block number and its header's timestamp, when the header holds."""
    if not isinstance(as_of, Mapping):
        raise MalformedProof("'as_of' is not an object with the as-of block's header")
    number, block_hash, header = (as_of.get(k) for k in ("block_number", "block_hash", "header"))
    if type(number) is not int or not isinstance(block_hash, str) or not isinstance(header, str):
        raise MalformedProof("'as_of' needs block_number, block_hash and header")
    try:
        raw_header, raw_hash = bytes.fromhex(header[2:]), bytes.fromhex(block_hash[2:])
    except ValueError:
        raise MalformedProof("'as_of' header and block_hash are not 0x-hex") from None
    fields = checker.header("as_of", raw_header, raw_hash, number)
    if fields is None:
        return None, 0
    chain_id = checker.proven[0].chain_id if checker.proven else None
    if chain_id is not None and not checker.on_node("as_of", chain_id, number, raw_hash):
        return None, 0
    return number, int.from_bytes(fields[11], "big")


def _trusted_events(checker: Checker, doc: Mapping[str, Any], as_of: int) -> list[ProvenEvent]:
    """The proven events of the pack's own proofs, from the pack's contracts, up to its
    as-of block, each once, in chain order."""
    contracts = doc.get("contracts")
    if not isinstance(contracts, Mapping):
        raise MalformedProof("'contracts' is not an object of contract addresses")
    emitter = {event: contracts.get(name) for name, events in EMITTERS.items() for event in events}
    seen: set[tuple[str, int]] = set()
    events: list[ProvenEvent] = []
    for e in checker.proven:
        if "." in e.subject or (e.block_hash, e.log_index) in seen:
            continue  # an anchor inside an anchored-item proof, or a repeated proof
        seen.add((e.block_hash, e.log_index))
        if e.chain_id != doc.get("chain_id"):
            checker.fact(
                "summary",
                "chain id",
                False,
                f"{e.subject} is about chain {e.chain_id}, the pack about {doc.get('chain_id')}",
            )
            continue
        if e.event in emitter and str(emitter[e.event]).lower() != e.contract.lower():
            checker.fact(
                "summary",
                "contracts",
                False,
                f"{e.subject} ({e.event}) was emitted by {e.contract}, not the pack's "
                f"contract {emitter[e.event]}",
            )
            continue
        known = _known_fragments().get(e.event)
        if e.event in emitter and known is not None and fragment_key(e.fragment) != known:
            checker.fact(
                "summary",
                "abi",
                False,
                f"{e.subject}'s ABI fragment for {e.event} is not the {e.contract} contract's "
                "own (argument names must come from the contract, not the pack)",
            )
            continue
        if e.block_number > as_of:
            checker.fact(
                "summary",
                "as_of",
                False,
                f"{e.subject} is in block {e.block_number}, after the pack's as-of block {as_of}",
            )
            continue
        events.append(e)
    return sorted(events, key=lambda e: (e.block_number, e.log_index))


@functools.cache
def _known_fragments() -> dict[str, tuple[Any, ...]]:
    """The system's event fragments from the compiled artifacts next to this package, so
    argument names (which a log's topics do not commit to) cannot be swapped by a pack;
    empty when the artifacts are not there (then pass ``--abi``)."""
    known: dict[str, tuple[Any, ...]] = {}
    for name in EMITTERS:
        path = ARTIFACTS / f"{name}.json"
        if not path.exists():
            continue
        for item in json.loads(path.read_text())["abi"]:
            if item.get("type") == "event":
                known[str(item["name"])] = fragment_key(item)
    return known


def _notes(checker: Checker, doc: Mapping[str, Any], as_of: int) -> None:
    notes = checker.report.notes
    if "labels" in doc:
        labels = _labels(doc["labels"])
        organisations, lots = labels["organisations"], labels["lots"]
        notes.append(
            f"{len(organisations)} organisation names and {len(lots)} lot names are off-chain "
            "labels: the chain proves addresses and metadata hashes, not names"
        )
    if "holders" in doc:
        notes.append(
            f"holders are the mirror's balances at block {as_of}, not proven by these proofs"
        )
    contracts = doc.get("contracts")
    notes.append(
        f"the contracts ({', '.join(f'{k} {v}' for k, v in dict(contracts or {}).items())}) "
        "are the pack's: compare them with the consortium's published deployment"
    )
    if "generated_at" in doc:
        notes.append(f"generated_at {doc['generated_at']} is stated, not proven")
