"""Per-request batching of lot reads, so a lineage of a thousand lots costs a handful of
queries rather than a thousand.

graphql-core resolves the lots of a list one after another (the sync view runs no event
loop, so strawberry's async DataLoader does not apply). Instead a lineage *announces* the
lots it is about to return (`want`), and the first lot that needs its state loads every
announced lot of the same block in one `lot_summaries` call; later lots read the cache.
Whose holders are in view (`StockScope.covered`) and figures (`lots_figures`) batch the
same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from webapp.lots.selectors.scope import StockScope
from webapp.organisations.selectors import organisation_names
from webapp.provenance.selectors import LotSummary, lot_summaries
from webapp.sustainability.selectors import Figures, lots_figures

Value = TypeVar("Value")
Block = int | None


class _Batch(Generic[Value]):
    """Keys announced or asked for, per block, loaded together on the first miss."""

    def __init__(self, load: Callable[[list[int], Block], dict[int, Value]]) -> None:
        self._load = load
        # In announcement order: a batch loader may do less work given a good order.
        self._pending: dict[Block, dict[int, None]] = defaultdict(dict)
        self._done: dict[Block, dict[int, Value | None]] = defaultdict(dict)

    def want(self, keys: Iterable[int], block: Block) -> None:
        done = self._done[block]
        self._pending[block].update((k, None) for k in keys if k not in done)

    def get(self, key: int, block: Block) -> Value | None:
        done = self._done[block]
        if key not in done:
            keys = list({**self._pending.pop(block, {}), key: None})
            found = self._load(keys, block)
            for k in keys:
                done[k] = found.get(k)
        return done[key]


class LotLoader:
    """Lot state, holders-in-view and figures for one request and one organisation."""

    def __init__(self, scope: StockScope) -> None:
        self.scope = scope
        self._names: dict[str, str] | None = None
        self.summaries: _Batch[LotSummary] = _Batch(
            lambda ids, block: lot_summaries(lot_ids=ids, block=block)
        )
        self.covered: _Batch[bool] = _Batch(
            lambda ids, _block: dict.fromkeys(scope.covered(ids), True)
        )
        self.figures: _Batch[Figures] = _Batch(
            lambda ids, block: lots_figures(lot_ids=ids, block=block)
        )

    def names(self) -> dict[str, str]:
        """Organisation names by address, read once per request."""
        if self._names is None:
            self._names = organisation_names()
        return self._names

    def want(self, lot_ids: Iterable[int], block: Block) -> None:
        ids = list(lot_ids)
        self.summaries.want(ids, block)
        self.covered.want(ids, None)
        # Figures walk each lot's upstream unless an earlier lot's walk reached it: the
        # caller announces the most downstream lot first (a lineage: its start when going
        # up, its furthest lots when going down), so one walk covers most of the batch.
        self.figures.want(ids, block)  # loaded only if some lot asks for its figures

    def holders_in_view(self, lot_id: int, holders: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The holders the organisation may see and the scope ("all" or "own")."""
        if self.covered.get(lot_id, None):
            return holders, "all"
        return self.scope.own(holders), "own"
