"""What a batch of chain events names, by kind (the rows a refresh rewrites)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp.chain.models import ChainEvent

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
#: The arguments that name lots, one or a list of them.
_LOT_ARGS = ("lotId", "id", "bundleId", "ids", "lotIds", "inputIds", "outputIds")
#: Per event, the arguments naming the lots whose figures it sets (the rest follow from
#: them downstream; certificates are added by the refresh from their subjects).
_FIGURES = {"LotRegistered": "lotId", "LotsTransformed": "outputIds", "LotsBundled": "bundleId"}
_QUARANTINE = ("QuarantineSet", "QuarantineCleared")


@dataclass
class Touched:
    """What a batch of events names, by kind."""

    lots: set[int] = field(default_factory=set)
    handoffs: set[int] = field(default_factory=set)
    certificates: set[int] = field(default_factory=set)
    transformations: set[int] = field(default_factory=set)
    footprints: set[int] = field(default_factory=set)  # before the downstream closure
    quarantines: list[ChainEvent] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)
    times: set[datetime] = field(default_factory=set)  # of the events' blocks


def whole(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() else None


def _numbers(value: Any) -> set[int]:
    """The whole numbers in one argument (a value or a list of them)."""
    values = value if isinstance(value, list) else [value]
    return {n for n in (whole(v) for v in values) if n is not None}


def touched(events: Sequence[ChainEvent]) -> Touched:
    found = Touched()
    for event in events:
        found.times.add(event.block_timestamp)
        args = event.args if isinstance(event.args, dict) else {}
        for name in _LOT_ARGS:
            found.lots |= _numbers(args.get(name))
        found.accounts |= {v for v in args.values() if isinstance(v, str) and _ADDRESS.fullmatch(v)}
        found.handoffs |= _numbers(args.get("handoffId"))
        found.certificates |= _numbers(args.get("certificateId"))
        found.transformations |= _numbers(args.get("transformationId"))
        if event.event in _FIGURES:
            found.footprints |= _numbers(args.get(_FIGURES[event.event]))
        if event.event in _QUARANTINE:
            found.quarantines.append(event)
    return found
