"""Origin credit by mass balance: the rule, on chain facts already gathered (no database).

Origins are the participants that registered the root lots of a lineage (a mine, a farm,
a recycler): lots with no transformation inputs and no bundle contents. Every other lot
carries the origins of what went into it:

- **Transformation output.** Each output is credited to the transformation's inputs in
  proportion to the mass of each input consumed (quantity consumed x the input's mass
  per unit), so all outputs of one transformation share one origin mix. When the mass of
  an input is unknown (a count unit with nothing to derive it from), that
  transformation's inputs are weighed by the quantities the chain records instead, and
  the lot's credit is marked ``by_quantity``.
- **Bundle.** A bundle's lots carry their own origins: the bundle's mix is its contents'
  mixes weighed by their mass (by quantity, marked, when a content's mass is unknown).
  Contents count as packed, even once unpacked: a bundle is packed once.

A lot's mass per unit comes from its unit when that is a mass (mg, g, kg, t: see
`webapp.formatting.MASS_UNITS`). For any other unit (pieces, units, m) it is derived by
the same balance where the chain allows it: the outputs of a transformation whose
outputs all share one non-mass unit split the inputs' mass by quantity (40 cells made
from 1.6 kg of material weigh 40 g each; process losses are not known to the chain, so
they stay in the products); a bundle weighs what it holds. A non-mass root lot, or an
output beside outputs in other units, has no known mass: its credit is shares only.

Arithmetic is exact (fractions) until the very end; figures are then rounded once, with
the largest-remainder rule (`allocated`), so the rounded shares of a product sum to
exactly 1 (100 %) and the rounded masses to the rounded total: each part is rounded
down to the quantum (0.001), and the quanta left over go to the parts with the largest
remainders, ties to the lower origin address. The same facts give the same figures in
any order they are read in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

#: Grams per unit of each mass unit the chain's lots are written in.
GRAMS: dict[str, Fraction] = {
    "mg": Fraction(1, 1000),
    "g": Fraction(1),
    "kg": Fraction(1000),
    "t": Fraction(1_000_000),
}
#: Precision of every rounded figure: shares as 0..1 (0.1 %), masses in kg (1 g).
QUANTUM = Decimal("0.001")
Mix = dict[str, Fraction]  # origin address -> fraction of the lot, summing to 1


@dataclass(frozen=True)
class Part:
    """`quantity` of lot `parent` went into a lot (consumed by a transformation, or packed)."""

    parent: int
    quantity: int


@dataclass
class LotFacts:
    """What the balance needs to know about one lot, all of it chain facts (the unit is the
    lot's metadata document, which the chain holds the hash of)."""

    creator: str
    quantity: int
    unit_grams: Fraction | None = None  # grams per unit when the unit is a mass
    unit: str = ""
    transformation: int | None = None  # the transformation that made it
    inputs: list[Part] = field(default_factory=list)  # that transformation's inputs
    contents: list[Part] = field(default_factory=list)  # a bundle's contents


class MassBalance:
    """Exact, memoised origin mixes and masses over one upstream closure.

    `outputs` maps a transformation to its outputs (lot, quantity), needed to derive the
    mass of outputs in count units."""

    def __init__(
        self, lots: Mapping[int, LotFacts], outputs: Mapping[int, list[Part]] | None = None
    ) -> None:
        self.lots = lots
        self.outputs = outputs or {}
        self._mix: dict[int, Mix] = {}
        self._by_quantity: dict[int, bool] = {}
        self._grams: dict[int, Fraction | None] = {}

    def grams_per_unit(self, lot: int) -> Fraction | None:
        """The mass of one unit of `lot` in grams, None when the chain cannot tell."""
        if lot in self._grams:
            return self._grams[lot]
        self._grams[lot] = None  # a guard against cycles (the chain cannot make one)
        node = self.lots.get(lot)
        result: Fraction | None = None
        if node is None:
            result = None
        elif node.unit_grams is not None:
            result = node.unit_grams
        elif node.contents:
            total = self._mass_of(node.contents)
            result = None if total is None or node.quantity <= 0 else total / node.quantity
        elif node.inputs and node.transformation is not None:
            made = self.outputs.get(node.transformation, [Part(lot, node.quantity)])
            units = {self.lots[p.parent].unit if p.parent in self.lots else None for p in made}
            massless = all(
                p.parent in self.lots and self.lots[p.parent].unit_grams is None for p in made
            )
            total = self._mass_of(node.inputs)
            count = sum(p.quantity for p in made)
            if total is not None and massless and len(units) == 1 and count > 0:
                result = total / count
        self._grams[lot] = result
        return result

    def _mass_of(self, parts: list[Part]) -> Fraction | None:
        total = Fraction(0)
        for part in parts:
            per_unit = self.grams_per_unit(part.parent)
            if per_unit is None:
                return None
            total += part.quantity * per_unit
        return total

    def mix(self, lot: int) -> Mix:
        """The origins of `lot` and the fraction of it each one is credited with."""
        if lot in self._mix:
            return self._mix[lot]
        node = self.lots.get(lot)
        if node is None:  # beyond what was read (the depth cap): its own origin, unknown
            return {}
        parts = node.inputs or node.contents
        self._mix[lot] = {node.creator: Fraction(1)}  # a guard against cycles
        self._by_quantity[lot] = False
        if parts:
            masses = [self.grams_per_unit(p.parent) for p in parts]
            by_quantity = any(m is None for m in masses)
            weights = [
                Fraction(p.quantity) if m is None or by_quantity else p.quantity * m
                for p, m in zip(parts, masses, strict=True)
            ]
            total = sum(weights, Fraction(0))
            mixed: Mix = defaultdict(Fraction)
            inherited = False
            for part, weight in zip(parts, weights, strict=True):
                if total == 0 or weight == 0:
                    continue
                for origin, fraction in self.mix(part.parent).items():
                    mixed[origin] += Fraction(weight, total) * fraction
                inherited |= self._by_quantity.get(part.parent, False)
            if mixed:
                self._mix[lot] = dict(mixed)
                self._by_quantity[lot] = by_quantity or inherited
        return self._mix[lot]

    def by_quantity(self, lot: int) -> bool:
        """True when some step of the lot's lineage was weighed by quantity, not mass."""
        self.mix(lot)
        return self._by_quantity.get(lot, False)


def rounded(value: Fraction, quantum: Decimal = QUANTUM) -> Decimal:
    """`value` rounded half-to-even to `quantum`."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(quantum, rounding=ROUND_HALF_EVEN)


def allocated(parts: Mapping[str, Fraction], quantum: Decimal = QUANTUM) -> dict[str, Decimal]:
    """Each part rounded to `quantum` so that the rounded parts sum to the rounded total
    (largest remainder; ties go to the lower key). Every participant gets the same."""
    if not parts:
        return {}
    step = Fraction(quantum)
    floors = {key: (value // step) for key, value in parts.items()}
    target = rounded(sum(parts.values(), Fraction(0)), quantum)
    left = int(Fraction(target) / step) - sum(floors.values())
    order = sorted(parts, key=lambda key: (-(parts[key] / step - floors[key]), key))
    bonus = {key: 1 if i < left else 0 for i, key in enumerate(order)}
    return {
        key: (Decimal(floors[key] + bonus[key]) * quantum).quantize(quantum)
        for key in sorted(parts)
    }


def mass_unit_grams(unit: str) -> Fraction | None:
    """Grams per unit for a mass unit (as `webapp.formatting.mass_unit` names it)."""
    return GRAMS.get(unit)
