"""A lot's reading evidence: the sensor readings in and around its excursions, each with
its ``provenant-anchored-item/1`` proof, as the web app builds it
(``"format": "provenant-reading-evidence/1"``).

Keys: ``format``, ``lot_id``, ``excursions`` (a list of ``{"start", "end"}`` in the
canonical reading time form), ``margin_seconds`` (how far around each excursion readings
are included), ``readings`` (the readings' canonical items, see
:mod:`contracts.proofs.readings`), ``proofs`` (one anchored-item proof per reading, in the
same order), ``pending`` (readings not anchored yet: stated, not proven), ``chain_id``,
``contracts`` and ``generated_at``.

Checked, beyond each proof's own facts: every listed reading is exactly the item of its
proof, which held; each is a canonical reading item about the pack's lot, in one of the
excursion windows (widened by the margin); its batch was anchored as ``SENSOR_READINGS``
on the pack's chain, by the pack's ``Anchors`` contract when the pack names one. Not
provable offline, and reported as notes: that the pack left no reading of those windows
out, the pending readings, and ``generated_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from contracts.proofs.readings import READING_KEYS, READINGS_KIND, parse_time
from contracts.proofs.verify.decoding import same_json
from contracts.proofs.verify.report import ProvenItem

if TYPE_CHECKING:
    from contracts.proofs.verify.proofs import Checker

READINGS_PACK_FORMAT = "provenant-reading-evidence/1"
PACK_KEYS = frozenset(
    {"format", "generated_at", "chain_id", "contracts", "lot_id", "excursions"}
    | {"margin_seconds", "readings", "pending", "proofs"}
)
KIND_HEX = "0x" + READINGS_KIND.encode().ljust(32, b"\0").hex()


class _Refused(ValueError):
    pass


def is_readings_pack(doc: Mapping[str, Any]) -> bool:
    return doc.get("format") == READINGS_PACK_FORMAT


def _windows(doc: Mapping[str, Any]) -> list[tuple[datetime, datetime]]:
    margin = doc.get("margin_seconds")
    if type(margin) is not int or margin < 0:
        raise _Refused("margin_seconds is not a non-negative integer")
    excursions = doc.get("excursions")
    if not isinstance(excursions, list) or not excursions:
        raise _Refused("excursions is not a non-empty list")
    windows: list[tuple[datetime, datetime]] = []
    for i, excursion in enumerate(excursions):
        try:
            start, end = parse_time(excursion["start"]), parse_time(excursion["end"])
        except (TypeError, KeyError, ValueError) as exc:
            raise _Refused(f"excursions[{i}] is not a start and end time: {exc}") from None
        if end < start:
            raise _Refused(f"excursions[{i}] ends before it starts")
        windows.append((start - timedelta(seconds=margin), end + timedelta(seconds=margin)))
    return windows


def _check_reading(
    i: int, reading: Any, lot: str, windows: list[tuple[datetime, datetime]]
) -> None:
    if not isinstance(reading, Mapping) or set(reading) != READING_KEYS:
        raise _Refused(f"readings[{i}] is not a canonical reading item")
    if reading["lotId"] != lot:
        raise _Refused(f"readings[{i}] is about lot {reading['lotId']}, not lot {lot}")
    try:
        moment = parse_time(reading["time"])
    except (TypeError, ValueError) as exc:
        raise _Refused(f"readings[{i}]: {exc}") from None
    if not any(start <= moment <= end for start, end in windows):
        raise _Refused(f"readings[{i}] at {reading['time']} is outside every excursion window")


def _check_proven(
    i: int, reading: Any, item: ProvenItem | None, chain_id: Any, anchors: str
) -> None:
    if item is None:
        raise _Refused(f"readings[{i}]: its proof did not hold")
    if not same_json(item.item, reading):
        raise _Refused(f"readings[{i}] is not the item its proof proves")
    if item.kind.lower() != KIND_HEX:
        raise _Refused(f"readings[{i}]'s batch was not anchored as {READINGS_KIND}")
    if item.anchor.chain_id != chain_id:
        raise _Refused(f"readings[{i}] was anchored on chain {item.anchor.chain_id}")
    if anchors and item.anchor.contract.lower() != anchors:
        raise _Refused(f"readings[{i}] was anchored by {item.anchor.contract}, not {anchors}")


def check_readings(checker: Checker, doc: Mapping[str, Any]) -> None:
    """Compare the pack's readings with the items its proofs proved."""
    try:
        _check(checker, doc)
    except _Refused as exc:
        checker.fact("", "readings", False, str(exc))


def _check(checker: Checker, doc: Mapping[str, Any]) -> None:
    unknown = sorted(set(doc) - PACK_KEYS)
    if unknown:
        raise _Refused(f"the pack has keys a reading evidence pack does not: {unknown}")
    lot = str(doc.get("lot_id"))
    windows = _windows(doc)
    readings, proofs = doc.get("readings"), doc["proofs"]
    if not isinstance(readings, list) or len(readings) != len(proofs):
        raise _Refused("readings is not a list with one entry per proof")
    proven = {p.subject: p for p in checker.proven_items}
    contracts = doc.get("contracts") or {}
    anchors = str(contracts.get("Anchors", "")).lower() if isinstance(contracts, Mapping) else ""
    for i, reading in enumerate(readings):
        _check_reading(i, reading, lot, windows)
        _check_proven(i, reading, proven.get(f"proofs[{i}]"), doc.get("chain_id"), anchors)
    checker.fact(
        "",
        "readings",
        True,
        f"{len(readings)} readings of lot {lot} are anchored, in {len(windows)} excursion windows",
    )
    notes = checker.report.notes
    pending = doc.get("pending") or []
    if pending:
        notes.append(f"{len(pending)} pending readings are not anchored yet: stated, not proven")
    notes.append(
        "the proofs show these readings were recorded; no file can show that no other reading "
        "of the windows was left out"
    )
    if "generated_at" in doc:
        notes.append(f"generated_at {doc['generated_at']} is stated, not proven")
