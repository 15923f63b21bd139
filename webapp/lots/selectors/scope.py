"""Who sees whose stock: the current lots, and the `StockScope` every surface that shows
holdings narrows them by (the lot list, a lot's holders, traces, revocation impact, the
sustainability dashboard, search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from contracts.chain.domain import Role
from webapp.memo import memo
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.projections.models import Balance, BundleContent, HandoffVersion, LotVersion


def current_lots(chain_id: int | None = None) -> QuerySet[LotVersion]:
    return LotVersion.objects.filter(chain_id=chain_id or settings.CHAIN_ID, block_to__isnull=True)


# ------------------------------------------------------------------ who sees whose stock


def sees_all_stock(organisation: Organisation) -> bool:
    """Auditors and the consortium operator see every organisation's stock."""
    return organisation.is_operator or organisation.has_role(Role.AUDITOR)


@dataclass(frozen=True)
class StockScope:
    """Whose stock (who holds how much of a lot, now or as of a block) an organisation
    may see. The one rule behind every surface that shows holdings: the lot list's holder
    filter, a lot's holders (API and portal), traces, revocation impact and the
    sustainability dashboard.

    - Auditors and the operator see every lot's holders.
    - Any other member sees the holders of the lots it is a custody party to: lots it
      created, holds or ever held, lots it sent or was offered in a handoff, and the lots
      carried inside a bundle it was such a party to. Its custody partners along those
      lots are visible to it; strangers' stock of other lots is not.
    - Of every other lot a member sees the public lot facts (kind, total quantity,
      creator, metadata, certificates, quarantine, custody history: what the public
      passport shows) and its own holding, never who else holds how much.
    """

    organisation: Organisation
    everything: bool
    addresses: frozenset[str]

    def _touched(self) -> Q:
        chain_id = settings.CHAIN_ID
        mine = list(self.addresses)
        created = LotVersion.objects.filter(chain_id=chain_id, creator__in=mine).values("lot_id")
        held = Balance.objects.filter(chain_id=chain_id, holder__in=mine, quantity__gt=0).values(
            "lot_id"
        )
        # Sent and offered apart: each reads its own index (an OR of the two scans the
        # whole table).
        handoffs = HandoffVersion.objects.filter(chain_id=chain_id)
        sent = handoffs.filter(sender__in=mine).values("lot_id")
        offered = handoffs.filter(receiver__in=mine).values("lot_id")
        carried = BundleContent.objects.filter(
            Q(bundle_id__in=held)
            | Q(bundle_id__in=sent)
            | Q(bundle_id__in=offered)
            | Q(bundle_id__in=created),
            chain_id=chain_id,
        ).values("lot_id")
        return (
            Q(lot_id__in=created)
            | Q(lot_id__in=held)
            | Q(lot_id__in=sent)
            | Q(lot_id__in=offered)
            | Q(lot_id__in=carried)
        )

    def lots(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """`rows` (anything with a `lot_id`) narrowed to the lots whose stock is in view."""
        return rows if self.everything else rows.filter(self._touched())

    def lots_condition(self) -> Q:
        """`lots` as a condition on a `lot_id` column, to combine with others (an empty
        condition when everything is in view)."""
        return Q() if self.everything else self._touched()

    @property
    def lists_beyond_view(self) -> bool:
        """Whether `listed` shows lots whose stock is not in view (a certifier's)."""
        return not self.everything and self.organisation.has_role(Role.CERTIFIER)

    def listed_condition(self) -> Q:
        """`listed` as a condition on a `lot_id` column."""
        return Q() if self.lists_beyond_view else self.lots_condition()

    def listed(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """`rows` narrowed to the lots the lot list and the search show: the lots in view,
        and for a certifier every lot (it certifies across the consortium; of a lot it is
        no party to it still sees only the public facts and its own holding)."""
        return rows if self.lists_beyond_view else self.lots(rows)

    def covered(self, lot_ids: list[int]) -> set[int]:
        """Which of these lots' holders the organisation may see."""
        if self.everything:
            return set(lot_ids)
        rows = current_lots().filter(lot_id__in=lot_ids)
        return {int(i) for i in self.lots(rows).values_list("lot_id", flat=True)}

    def covers(self, lot_id: int) -> bool:
        return bool(self.covered([lot_id]))

    def own(self, holders: dict[str, int]) -> dict[str, int]:
        """Only the organisation's own entries of a lot's holders."""
        return {a: q for a, q in holders.items() if a in self.addresses}

    def holders(self, lot_id: int, holders: dict[str, int]) -> dict[str, int]:
        """A lot's holders as this organisation may see them: all, or only its own."""
        return holders if self.covers(lot_id) else self.own(holders)

    def trace_nodes(self, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Lots shaped for a trace (`lot_json`), each with only the holders in view and
        `holders_scope`: "all", or "own" when only the organisation's own holding shows."""
        covered = self.covered([int(n["lot_id"]) for n in nodes])
        return [
            {**n, "holders_scope": "all"}
            if int(n["lot_id"]) in covered
            else {
                **n,
                "holders": [h for h in n["holders"] if h["address"] in self.addresses],
                "holders_scope": "own",
            }
            for n in nodes
        ]

    def summaries(self, summaries: list[Any]) -> set[int]:
        """Narrow lot summaries (anything with `lot_id` and `holders`) in place to the
        holders in view; returns the ids of the lots whose holders are all shown."""
        covered = self.covered([int(s.lot_id) for s in summaries])
        for s in summaries:
            if int(s.lot_id) not in covered:
                s.holders = self.own(s.holders)
        return covered

    def holdings_by_organisation(
        self, holdings: dict[Organisation, list[int]], covered: set[int]
    ) -> dict[Organisation, list[int]]:
        """{organisation: lot ids it holds}, keeping only what the scope shows."""
        out: dict[Organisation, list[int]] = {}
        for organisation, lot_ids in holdings.items():
            own = organisation.pk == self.organisation.pk
            shown = [i for i in lot_ids if own or i in covered]
            if shown:
                out[organisation] = shown
        return out


def stock_scope(*, organisation: Organisation) -> StockScope:
    """The stock an organisation may see (see `StockScope`)."""

    def read() -> StockScope:
        addresses = set(
            OrganisationKey.objects.filter(organisation=organisation).values_list(
                "address", flat=True
            )
        )
        if organisation.address:
            addresses.add(organisation.address)
        return StockScope(
            organisation=organisation,
            everything=sees_all_stock(organisation),
            addresses=frozenset(addresses),
        )

    return memo(("stock_scope", organisation.pk, organisation.address), read)
