"""The sustainability roll-up: one deterministic rule from chain facts to a lot's figures.

The web app (from its mirror) and the offline verifier (from the proofs of an evidence
pack) both call :func:`roll_up`, so a figure a participant shows is exactly the figure a
third party recomputes. The input is what the chain recorded, already judged as of one
moment: each lot's quantity, the certificates valid then (in certificate-id order), and
the lineage edges (transformation inputs and bundle contents, with quantities). The
arithmetic is exact (fractions) until each figure is rounded once, half-to-even, to three
decimals.

The rules (per lot L):

- **Carbon footprint, g CO2e per unit.** L's own claim is ``CO2E_G_PER_UNIT`` from its
  latest valid certificate carrying it. A lot made by a transformation adds to its own
  claim the inputs' footprint: the sum of input quantity x input footprint per unit,
  spread over all outputs of that transformation by quantity. A bundle's footprint is the
  sum of its contents' (quantity x footprint per unit; the contents it was packed with,
  even once unpacked) per bundle unit, plus its own claim. A raw lot without a claim has
  an unknown footprint: it counts as 0 and marks every figure built on it incomplete.
- **Recycled content, per mille, by mass balance.** A valid certificate's
  ``RECYCLED_PERMILLE`` claim on L is L's figure. Otherwise a transformation output or a
  bundle has the input-quantity-weighted mean of its inputs'; a raw lot without a claim
  is virgin material (0).
- **Certified input share.** The input-quantity-weighted share of L's inputs that hold a
  valid certificate (an uncertified intermediate input counts by its own share); a raw
  lot's share is 1 if it holds a valid certificate, else 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

CO2E = "CO2E_G_PER_UNIT"
RECYCLED = "RECYCLED_PERMILLE"
THREE_PLACES = Decimal("0.001")


@dataclass(frozen=True)
class ValidCertificate:
    """A certificate valid at the moment judged, with its claims by name."""

    certificate_id: int
    claims: Mapping[str, int]


@dataclass(frozen=True)
class Part:
    """`quantity` of `parent` went into the lot (by a transformation, or packed)."""

    parent: int
    quantity: int
    transformation_id: int | None = None


@dataclass
class LotFacts:
    """What the roll-up needs to know about one lot."""

    quantity: int
    valid: list[ValidCertificate] = field(default_factory=list)  # certificate-id order
    inputs: list[Part] = field(default_factory=list)  # transformation inputs
    contents: list[Part] = field(default_factory=list)  # bundle contents
    outputs_total: int = 0  # all outputs of the transformation that made this lot


@dataclass(frozen=True)
class RolledUp:
    """A lot's figures, rounded, and the chain facts they rest on."""

    footprint_g_per_unit: Decimal
    footprint_complete: bool
    recycled_permille: Decimal
    certified_input_share: Decimal  # 0..1
    certificates: list[int]  # whose claims were used
    transformations: list[int]  # crossed on the way


def rounded(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(THREE_PLACES, rounding=ROUND_HALF_EVEN)


class _RollUp:
    """Exact, memoised evaluation of the rules over one upstream closure."""

    def __init__(self, lots: Mapping[int, LotFacts]) -> None:
        self.lots = lots
        self.footprints: dict[int, tuple[Fraction, bool]] = {}
        self.recycled: dict[int, Fraction] = {}
        self.certified: dict[int, Fraction] = {}
        self.used_certificates: dict[int, set[int]] = defaultdict(set)

    def claim(self, lot: int, key: str) -> Fraction | None:
        for certificate in reversed(self.lots[lot].valid):  # latest first
            if key in certificate.claims:
                self.used_certificates[lot].add(certificate.certificate_id)
                return Fraction(int(certificate.claims[key]))
        return None

    def sources(self, lot: int) -> tuple[list[int], list[int]]:
        """The certificates whose claims fed a lot's figures, and the transformations
        crossed, over its whole upstream closure."""
        certificates: set[int] = set()
        transformations: set[int] = set()
        seen: set[int] = set()
        stack = [lot]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.lots:
                continue
            seen.add(current)
            certificates |= self.used_certificates[current]
            node = self.lots[current]
            for part in node.inputs + node.contents:
                if part.transformation_id is not None:
                    transformations.add(part.transformation_id)
                stack.append(part.parent)
        return sorted(certificates), sorted(transformations)

    def footprint(self, lot: int) -> tuple[Fraction, bool]:
        if lot in self.footprints:
            return self.footprints[lot]
        node = self.lots.get(lot)
        if node is None:  # beyond the depth cap: unknown
            return Fraction(0), False
        own = self.claim(lot, CO2E)
        total, complete = Fraction(0), True
        parts = node.inputs or node.contents
        for part in parts:
            value, ok = self.footprint(part.parent)
            total += part.quantity * value
            complete &= ok
        if node.inputs:
            result = total / node.outputs_total + (own or 0)
        elif node.contents:
            result = total / max(node.quantity, 1) + (own or 0)
        else:
            result, complete = own or Fraction(0), own is not None
        self.footprints[lot] = (result, complete)
        return result, complete

    def recycled_permille(self, lot: int) -> Fraction:
        if lot in self.recycled:
            return self.recycled[lot]
        node = self.lots.get(lot)
        result = Fraction(0)
        if node is not None:
            own = self.claim(lot, RECYCLED)
            parts = node.inputs or node.contents
            if own is not None:
                result = own
            elif parts:
                mass = sum(p.quantity for p in parts)
                result = sum(
                    (p.quantity * self.recycled_permille(p.parent) for p in parts), Fraction(0)
                ) / max(mass, 1)
        self.recycled[lot] = result
        return result

    def certified_share(self, lot: int) -> Fraction:
        if lot in self.certified:
            return self.certified[lot]
        node = self.lots.get(lot)
        result = Fraction(0)
        if node is not None:
            parts = node.inputs or node.contents
            if not parts:
                result = Fraction(1 if node.valid else 0)
            else:
                mass = sum(p.quantity for p in parts)
                weighted = Fraction(0)
                for p in parts:
                    source = self.lots.get(p.parent)
                    share = (
                        Fraction(1)
                        if source is not None and source.valid
                        else self.certified_share(p.parent)
                    )
                    weighted += p.quantity * share
                result = weighted / max(mass, 1)
        self.certified[lot] = result
        return result


def roll_up(lots: Mapping[int, LotFacts], lot_ids: Sequence[int]) -> dict[int, RolledUp]:
    """The figures of each of `lot_ids` known in `lots` (one shared, memoised evaluation,
    so lots with common ancestry cost their ancestry once)."""
    evaluation = _RollUp(lots)
    figures: dict[int, RolledUp] = {}
    for lot_id in lot_ids:
        if lot_id not in lots:
            continue
        footprint, complete = evaluation.footprint(lot_id)
        recycled = evaluation.recycled_permille(lot_id)
        certificates, crossed = evaluation.sources(lot_id)
        figures[lot_id] = RolledUp(
            footprint_g_per_unit=rounded(footprint),
            footprint_complete=complete,
            recycled_permille=rounded(recycled),
            certified_input_share=rounded(evaluation.certified_share(lot_id)),
            certificates=certificates,
            transformations=crossed,
        )
    return figures
