"""A cost estimate per query, refused before anything runs when it is over the cap.

Depth and token limits alone do not stop a query from scanning the database: a lineage
inside every lot of a lineage is only four levels deep. So each field that costs queries
has a price, and a field under a list pays it once per expected list item: a lineage is
batched (a handful of queries whatever its size), but custody or a nested lineage under
its nodes costs one walk per lot.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

MAX_COST = 1000
MAX_PAGE = 100
#: Lots a lineage is expected to return, for pricing what is asked of each of them.
LINEAGE_FANOUT = 100
#: What a field costs for each time it is resolved (fields not listed cost nothing: they
#: read what their parent already loaded, or come from a batch).
FIELD_COST = {
    "lot": 1,
    "upstream": 10,
    "downstream": 10,
    "custody": 20,
    "figures": 2,
    "operations": 2,
    "epcisEvents": 2,
}
#: Fields that return lists, and how many items to expect.
LINEAGE_LISTS = {"nodes", "edges"}
PAGED_LISTS = {"operations", "epcisEvents"}


def _first(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), MAX_PAGE))
            return MAX_PAGE  # a variable: price the largest page it could ask for
    return 20


def query_cost(
    selections: SelectionSetNode | None,
    context: Any,
    multiplier: int = 1,
    seen: frozenset[str] = frozenset(),
) -> int:
    """The estimated cost of a selection set resolved `multiplier` times (`seen`: the
    fragments on the way here; a cycle is another rule's error, not an endless walk)."""
    if selections is None:
        return 0
    cost = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            cost += FIELD_COST.get(name, 0) * multiplier
            inner = multiplier
            if name in LINEAGE_LISTS:
                inner *= LINEAGE_FANOUT
            elif name in PAGED_LISTS:
                inner *= _first(selection)
            cost += query_cost(selection.selection_set, context, inner, seen)
        elif isinstance(selection, InlineFragmentNode):
            cost += query_cost(selection.selection_set, context, multiplier, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:
                cost += query_cost(fragment.selection_set, context, multiplier, seen | {name})
    return cost


class QueryCostLimit(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = query_cost(node.selection_set, self.context)
        if cost > MAX_COST:
            self.report_error(
                GraphQLError(
                    f"This query's estimated cost is {cost}, over the limit of {MAX_COST}:"
                    " ask for custody or a nested lineage of fewer lots, or page with"
                    " smaller `first` values.",
                    node,
                )
            )
