"""What the public passport reads, in words people can follow: a product's title, the
transformations it went through, the certificates and transformations its figures rest on,
and its story — the custody of everything it was made of, by organisation and date.

The story walks the product's upstream lineage (`lot_trace`: inputs of transformations,
contents of bundles) and keeps, for each lot in it, only what happened before that lot
went into the next one (its "cutoff": the last transformation or packing that used it), so
ore handed on after it was refined does not appear in the chip's passport. A bundle that
carried one of those lots counts while it held the lot. Everything shown is a chain event
the evidence pack proves; names are the consortium's public organisation and lot labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q

from webapp.certificates.selectors import certificate_status, certificate_type_name
from webapp.chain.models import ChainEvent
from webapp.lots.models import LotMetadata
from webapp.lots.selectors import KIND_NAMES
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import BundleContent, CertificateVersion
from webapp.provenance.selectors import MAX_DEPTH, LotSummary, Trace, lot_summaries, lot_trace
from webapp.sustainability.selectors import Figures, lot_figures

#: Most events one story reads (a lineage with more shows the first ones and says so).
MAX_STORY_EVENTS = 2000
#: Most steps the passport lists.
MAX_STORY_STEPS = 200
#: Position of an event on the chain: (block, log index).
Position = tuple[int, int]
_END: Position = (2**63, 0)
UNNAMED = "an unnamed participant"


def passport_title(*, name: str, lot_id: int) -> str:
    """The product's name once and its id once: "Pallet · lot 7"; a name that already
    carries the id ("Pallet 401" for lot 401) stands alone; no name: "Lot 7"."""
    name = name.strip()
    if not name:
        return f"Lot {lot_id}"
    if str(lot_id) in re.findall(r"\d+", name):
        return name
    return f"{name} · lot {lot_id}"


@dataclass(frozen=True)
class LotLabel:
    """A lot as the public reads it: its off-chain name and unit (labels, not proven)."""

    lot_id: int
    name: str
    unit: str

    @property
    def title(self) -> str:
        return self.name or f"Lot {self.lot_id}"


@dataclass(frozen=True)
class Amount:
    """So much of a lot: "Ore A (800 g)" once formatted."""

    lot: LotLabel
    quantity: Decimal


@dataclass
class StoryStep:
    """One thing that happened to the product or to what it was made of.

    kind: "registered" (actor registered `lots`), "handed" (actor handed `lots` to
    receiver, who accepted), "offered" (handed, not accepted yet), "transformed" (actor
    turned `lots` into `made`, plus `others` outputs outside this product), "packed"
    (actor packed `lots` into `made`), "unpacked" (actor unpacked `lots`).
    """

    kind: str
    at: datetime
    actor: str
    lots: list[Amount]
    made: list[Amount] = field(default_factory=list)
    receiver: str = ""
    others: int = 0
    proof: ChainEvent | None = None
    position: Position = (0, 0)


@dataclass
class Story:
    """The steps, oldest first. A story too long to list keeps its beginning (where the
    material came from) and its end (where the product is now): `gap_after` is how many
    steps come before the ones left out, None when nothing was."""

    steps: list[StoryStep]
    gap_after: int | None
    transformations: list[StoryStep]  # every one read, listed or not


def story_shortened(
    steps: list[StoryStep], limit: int, split: int | None = None
) -> tuple[list[StoryStep], int | None]:
    """At most `limit` steps, the earliest and the latest, and how many come before the
    gap (None: no gap). `split`: where steps are missing already (events not read)."""
    if len(steps) <= limit:
        return steps, split
    if split is None:
        split = limit // 2
    # Half for each end, unless one end has fewer steps: the other takes what is left.
    early = min(split, max(limit // 2, limit - (len(steps) - split)))
    return steps[:early] + steps[split:][-(limit - early) :], early


@dataclass(frozen=True)
class CertificateFact:
    """A certificate in words: "Carbon footprint certificate for Ore A from Trust
    Certification (valid until 2 Dec 2027)"."""

    certificate_id: int
    label: str
    lot: LotLabel
    issuer: str
    valid_from: datetime
    valid_until: datetime
    status: str
    document_hash: str  # participants may open the document; the public sees no hash
    proof: ChainEvent | None


def certificate_label(certificate_type: str) -> str:
    """A certificate type (bytes32 hex) in words: "CARBON_FOOTPRINT" -> "Carbon footprint
    certificate"."""
    name = certificate_type_name(certificate_type).replace("_", " ").strip().lower()
    return f"{name.capitalize()} certificate" if name else "Certificate"


def lot_labels(*, lot_ids: set[int], chain_id: int | None = None) -> dict[int, LotLabel]:
    """Each lot's name and unit (a lot without metadata gets neither)."""
    chain_id = chain_id or settings.CHAIN_ID
    found = {
        int(m.lot_id): LotLabel(
            int(m.lot_id), str(m.document.get("name", "")), str(m.document.get("unit", ""))
        )
        for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=lot_ids).only(
            "lot_id", "document"
        )
    }
    return {i: found.get(i, LotLabel(i, "", "")) for i in lot_ids}


def certificate_events(*, certificate_ids: list[int]) -> dict[int, ChainEvent]:
    """Certificate id -> its CertificateIssued event (the proof of it)."""
    if not certificate_ids:
        return {}
    events = ChainEvent.objects.filter(
        chain_id=settings.CHAIN_ID,
        event="CertificateIssued",
        args__certificateId__in=certificate_ids,
    )
    return {int(e.args["certificateId"]): e for e in events}


def certificate_facts(
    *,
    certificates: list[tuple[CertificateVersion, str]],
    names: dict[str, str],
    labels: dict[int, LotLabel],
) -> list[CertificateFact]:
    """(certificate, its status now) pairs in words, each with the event that proves it."""
    events = certificate_events(certificate_ids=[int(c.certificate_id) for c, _ in certificates])
    return [
        CertificateFact(
            certificate_id=int(c.certificate_id),
            label=certificate_label(c.certificate_type),
            lot=labels.get(int(c.subject)) or LotLabel(int(c.subject), "", ""),
            issuer=names.get(c.issuer, UNNAMED),
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            status=status,
            document_hash=c.document_hash,
            proof=events.get(int(c.certificate_id)),
        )
        for c, status in certificates
    ]


def _position(event: ChainEvent) -> Position:
    return (event.block_number, event.log_index)


class _Window:
    """Which moments of which lots belong to a product's upstream story."""

    def __init__(self, trace: Trace, chain_id: int) -> None:
        self.product = trace.lot_id
        self.lots = set(trace.nodes)
        # A lot's cutoff: the last transformation or packing in this lineage that used it.
        self.cutoff: dict[int, Position] = {}
        for e in trace.edges:
            self.cutoff[e.parent] = max(self.cutoff.get(e.parent, (0, 0)), (e.block, e.log))
        self.sources = self.lots - {e.child for e in trace.edges}
        self.transformations = {t for e in trace.edges if (t := e.transformation_id) is not None}
        # Bundles that held a lot of the lineage, and when: (lot, packed, unpacked).
        self.carried: dict[int, list[tuple[int, Position, Position]]] = {}
        for row in BundleContent.objects.filter(chain_id=chain_id, lot_id__in=self.lots):
            end = _END if row.block_to is None else (int(row.block_to), 0)
            window = (int(row.lot_id), (int(row.block_from), int(row.log_from)), end)
            self.carried.setdefault(int(row.bundle_id), []).append(window)
        self.bundles = set(self.carried) | {e.child for e in trace.edges if e.kind == "bundle"}

    def before_use(self, lot: int, at: Position) -> bool:
        return lot in self.lots and at < self.cutoff.get(lot, _END)

    def handed(self, lot: int, at: Position) -> bool:
        """A handoff of `lot` at `at` moved the lineage: the lot itself before it was
        used, or a bundle while it carried a lineage lot that was not used yet."""
        return self.before_use(lot, at) or any(
            start <= at < end and at < self.cutoff.get(held, _END)
            for held, start, end in self.carried.get(lot, [])
        )

    def packed(self, bundle: int, at: Position) -> bool:
        return self.before_use(bundle, at) or any(
            at < self.cutoff.get(held, _END) for held, _, _ in self.carried.get(bundle, [])
        )

    def unpacked(self, bundle: int, at: Position) -> bool:
        return self.before_use(bundle, at) or any(
            end[0] == at[0] and at < self.cutoff.get(held, _END)
            for held, _, end in self.carried.get(bundle, [])
        )

    def query(self) -> Q:
        wanted = (
            Q(event="LotRegistered", args__lotId__in=sorted(self.sources))
            | Q(event__in=["LotsBundled", "LotsUnbundled"], args__bundleId__in=sorted(self.bundles))
            | Q(event__startswith="Handoff", args__lotId__in=sorted(self.lots | self.bundles))
        )
        if self.transformations:
            wanted |= Q(
                event="LotsTransformed", args__transformationId__in=sorted(self.transformations)
            )
        return wanted


class _Narrator:
    """Turns the story's chain events into steps, in chain order."""

    def __init__(self, window: _Window, names: dict[str, str], labels: dict[int, LotLabel]) -> None:
        self.window, self.names, self.labels = window, names, labels
        self.steps: list[StoryStep] = []
        self.handoffs: dict[int, StoryStep] = {}

    def who(self, address: str) -> str:
        return self.names.get(address, UNNAMED)

    def amounts(self, ids: list[Any], quantities: list[Any]) -> list[Amount]:
        return [
            Amount(self.labels[int(i)], Decimal(q)) for i, q in zip(ids, quantities, strict=True)
        ]

    def step(
        self, kind: str, event: ChainEvent, actor: str, lots: list[Amount], **more: Any
    ) -> StoryStep:
        made = StoryStep(
            kind, event.block_timestamp, self.who(actor), lots, proof=event,
            position=_position(event), **more,
        )  # fmt: skip
        self.steps.append(made)
        return made

    def tell(self, event: ChainEvent) -> None:
        a, at = event.args, _position(event)
        if event.event == "LotRegistered":
            self.step("registered", event, a["owner"], self.amounts([a["lotId"]], [a["quantity"]]))
        elif event.event == "LotsTransformed":
            outputs = list(zip(a["outputIds"], a["outputQuantities"], strict=True))
            inside = [(o, q) for o, q in outputs if int(o) in self.window.lots]
            self.step(
                "transformed", event, a["actor"], self.amounts(a["inputIds"], a["inputQuantities"]),
                made=self.amounts([o for o, _ in inside], [q for _, q in inside]),
                others=len(outputs) - len(inside),
            )  # fmt: skip
        elif event.event == "LotsBundled" and self.window.packed(int(a["bundleId"]), at):
            self.step(
                "packed", event, a["holder"], self.amounts(a["lotIds"], a["quantities"]),
                made=self.amounts([a["bundleId"]], [1]),
            )  # fmt: skip
        elif event.event == "LotsUnbundled" and self.window.unpacked(int(a["bundleId"]), at):
            self.step("unpacked", event, a["holder"], self.amounts([a["bundleId"]], [1]))
        elif event.event == "HandoffInitiated" and self.window.handed(int(a["lotId"]), at):
            self.handoffs[int(a["handoffId"])] = self.step(
                "offered", event, a["sender"], self.amounts([a["lotId"]], [a["quantity"]]),
                receiver=self.who(a["receiver"]),
            )  # fmt: skip
        elif (offered := self.handoffs.get(int(a.get("handoffId", -1)))) is not None:
            if event.event == "HandoffAccepted":
                offered.kind, offered.at, offered.proof = "handed", event.block_timestamp, event
                offered.position = at
            else:  # rejected or cancelled: custody never moved
                self.steps.remove(offered)


def _mentioned(window: _Window, events: list[ChainEvent]) -> set[int]:
    lots = window.lots | window.bundles
    for event in events:
        for key in ("inputIds", "outputIds", "lotIds"):
            lots.update(int(i) for i in event.args.get(key, []))
    return lots


def product_story(
    *, trace: Trace, names: dict[str, str], chain_id: int | None = None
) -> tuple[Story, dict[int, LotLabel]]:
    """The upstream story of `trace.lot_id` (an "up" trace), oldest first, and the labels
    of every lot it names. Bounded: at most MAX_STORY_EVENTS events are read and
    MAX_STORY_STEPS steps kept, the first and the last ones (`Story.gap_after`)."""
    chain_id = chain_id or settings.CHAIN_ID
    window = _Window(trace, chain_id)
    query = ChainEvent.objects.filter(chain_id=chain_id).filter(window.query())
    events = list(query.order_by("block_number", "log_index")[: MAX_STORY_EVENTS + 1])
    resumes: Position | None = None  # where the events read resume after a gap
    if len(events) > MAX_STORY_EVENTS:  # read the first and the last ones
        early = events[: MAX_STORY_EVENTS // 2]
        late = list(query.order_by("-block_number", "-log_index")[: MAX_STORY_EVENTS // 2])
        late = [e for e in reversed(late) if _position(e) > _position(early[-1])]
        events = early + late
        resumes = _position(late[0]) if late else None
    labels = lot_labels(lot_ids=_mentioned(window, events), chain_id=chain_id)
    narrator = _Narrator(window, names, labels)
    for event in events:
        narrator.tell(event)
    steps = sorted(narrator.steps, key=lambda s: s.position)
    if resumes is not None:  # an offer before the gap may have been settled inside it
        steps = [s for s in steps if s.kind != "offered" or s.position >= resumes]
    split = None if resumes is None else sum(1 for s in steps if s.position < resumes)
    shown, gap_after = story_shortened(steps, MAX_STORY_STEPS, split)
    transformations = [s for s in steps if s.kind == "transformed"]
    return Story(shown, gap_after, transformations), labels


@dataclass
class Origin:
    """A source lot of the product: what, how much, registered by whom."""

    lot: LotLabel
    quantity: Decimal
    maker: str
    maker_address: str


@dataclass
class Passport:
    """Everything the passport page shows, in words; addresses only for participants."""

    lot: LotSummary
    title: str
    kind: str
    maker: str
    figures: Figures
    origins: list[Origin]
    story: Story
    certificates: list[CertificateFact]
    built_on_certificates: list[CertificateFact]
    built_on_transformations: list[StoryStep]
    lot_count: int


def passport_read(*, lot_id: int, now: datetime) -> Passport:
    """The passport of `lot_id` (raises LotNotFound): its lineage, story, certificates
    (with their status at `now`) and figures, each with the chain event that proves it."""
    trace = lot_trace(lot_id=lot_id, direction="up", depth=MAX_DEPTH)
    names = organisation_names()
    summaries = lot_summaries(lot_ids=list(trace.nodes))
    lot = summaries[lot_id]
    story, labels = product_story(trace=trace, names=names)
    fed = {e.child for e in trace.edges}
    origins = [
        Origin(labels[s.lot_id], s.quantity, names.get(s.creator, UNNAMED), s.creator)
        for i, s in sorted(summaries.items())
        if i not in fed and i != lot_id
    ]
    figures = lot_figures(lot_id=lot_id)
    certificates = certificate_facts(
        certificates=[
            (c, certificate_status(c, now)) for s in summaries.values() for c in s.certificates
        ],
        names=names,
        labels=labels,
    )
    used = set(figures.certificates)
    crossed = set(figures.transformations)
    return Passport(
        lot=lot,
        title=passport_title(name=lot.name, lot_id=lot_id),
        kind=KIND_NAMES.get(lot.kind, ""),
        maker=names.get(lot.creator, UNNAMED),
        figures=figures,
        origins=origins,
        story=story,
        certificates=certificates,
        built_on_certificates=[c for c in certificates if c.certificate_id in used],
        built_on_transformations=[
            s
            for s in story.transformations
            if s.proof is not None and int(s.proof.args["transformationId"]) in crossed
        ],
        lot_count=len(trace.nodes),
    )
