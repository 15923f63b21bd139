"""The hub's schema: lots (with lineage, custody, holders, certificates and figures),
EPCIS events and the caller's operations, all within the caller's tier.

Limits, checked before anything runs: nesting depth, tokens, aliases and an estimated
cost (`webapp.graphql.cost`). Errors a client can act on (a bad `asOf`, a depth out of
range, a lot that did not exist then) come back with their message; anything else is
masked as "Unexpected error." so internals never leak.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import Info

from webapp.epcis.selectors import events_visible_to
from webapp.graphql.cost import MAX_PAGE, QueryCostLimit
from webapp.graphql.types import EpcisEvent, Lot, Operation, described, hub
from webapp.limits import MAX_BLOCK_NUMBER
from webapp.operations.selectors import operation_list, operation_reason_for_user
from webapp.provenance.selectors import LotNotFound, lot_exists, resolve_as_of

MAX_QUERY_DEPTH = 12
MAX_TOKENS = 2000
MAX_ALIASES = 20


def _block(as_of: str | None) -> int | None:
    if as_of is None or not as_of.strip():
        return None
    text = as_of.strip()
    if text.isdigit() and not (
        text.isascii() and len(text) <= 19 and int(text) <= MAX_BLOCK_NUMBER
    ):
        raise ValueError(f"asOf: a block number is made of digits 0-9, at most {MAX_BLOCK_NUMBER}.")
    return resolve_as_of(value=text)


def _page(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE}.")
    return first


def _lot_id(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 78):
        raise ValueError(f"{value!r} is not a lot id (a decimal number).")
    return int(text)


@strawberry.type
class Query:
    @described(
        "A lot now, or as of `asOf` (a block number, or an ISO date / date-time;"
        " a date means the end of that day, UTC). Null when the lot is not on the chain."
    )
    def lot(self, id: strawberry.ID, as_of: str | None = None) -> Lot | None:
        lot_id = _lot_id(id)
        block = _block(as_of)
        if not lot_exists(lot_id=lot_id):
            return None
        return Lot(id=strawberry.ID(str(lot_id)), block=block)

    @described("Your organisation's operations, newest first")
    def operations(
        self, info: Info[Any, Any], first: int = 20, status: str = ""
    ) -> list[Operation]:
        rows = operation_list(organisation=hub(info).organisation, status=status)
        return [
            Operation(
                id=strawberry.ID(str(o.id)),
                action=o.action,
                status=o.status,
                transaction_hash=o.transaction_hash,
                mined_block=o.mined_block,
                created_at=o.created_at,
                reason=operation_reason_for_user(o.error) if o.error else "",
            )
            for o in rows.order_by("-created_at")[: _page(first)]
        ]

    @described("EPCIS events in your tier, most recently recorded first")
    def epcis_events(self, info: Info[Any, Any], first: int = 20) -> list[EpcisEvent]:
        rows = events_visible_to(organisation=hub(info).organisation)
        return [
            EpcisEvent(
                event_id=e.event_id,
                event_hash=e.event_hash,
                event_type=e.event_type,
                action=e.action,
                biz_step=e.biz_step,
                disposition=e.disposition,
                event_time=e.event_time,
                record_time=e.record_time,
                lot_ids=[strawberry.ID(str(i)) for i in e.lot_ids],
            )
            for e in rows.order_by("-record_time", "-id")[: _page(first)]
        ]


def _masked(error: GraphQLError) -> bool:
    """Hide everything but the errors meant for the client."""
    original = error.original_error
    return original is not None and not isinstance(original, ValueError | LotNotFound)


schema = strawberry.Schema(
    query=Query,
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: AddValidationRules([QueryCostLimit]),
        lambda: MaskErrors(should_mask_error=_masked),
    ],
)
