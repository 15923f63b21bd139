"""Reads of the EPCIS event store: which events an organisation may see, a page of a query's
answer (keyset pagination), and the top-level resources (the EPCs, business steps, ... the
visible events name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import F, Func, Q, QuerySet, TextField

from webapp.epcis.columns import identifier_forms, vocabulary_term
from webapp.epcis.models import CaptureJob, EpcisEvent, NamedQuery
from webapp.epcis.query import EventQuery
from webapp.lots.selectors.scope import current_lots, stock_scope
from webapp.organisations.models import Organisation


def events_visible_to(*, organisation: Organisation) -> QuerySet[EpcisEvent]:
    """The events an organisation may see (the tiers of `StockScope`):

    - auditors and the operator: every event;
    - any other member: the events it captured, the events about a lot in its stock scope
      (one it created, holds, held, handed or was offered, or that travelled in such a
      bundle), and the public facts (lot registrations, certificates)."""
    scope = stock_scope(organisation=organisation)
    if scope.everything:
        return EpcisEvent.objects.all()
    # `lot_ids && ARRAY(SELECT lot_id::text ...)`: one GIN-served overlap test.
    lots = scope.lots(current_lots()).annotate(
        text_id=Func(
            F("lot_id"),
            function="CAST",
            template="CAST(%(expressions)s AS text)",
            output_field=TextField(),
        )
    )
    in_scope = Q(lot_ids__overlap=ArraySubquery(lots.values("text_id")))
    return EpcisEvent.objects.filter(Q(organisation=organisation) | Q(public=True) | in_scope)


@dataclass(frozen=True)
class EventPage:
    events: list[EpcisEvent]
    #: (order value as ISO text, event hash) of the last event when more follow, else None.
    next_key: tuple[str, str] | None


def event_page(
    *,
    organisation: Organisation,
    query: EventQuery,
    per_page: int,
    after: tuple[str, str] | None = None,
) -> EventPage:
    """One page of a query's answer among the visible events, ordered by the query's time
    column and then the event hash (so equal times never repeat or skip an event); `after`
    is the key the previous page ended with."""
    rows = query.apply(events_visible_to(organisation=organisation))
    column = query.order_by
    if after is not None:
        moment = datetime.fromisoformat(after[0])
        before = "lt" if query.descending else "gt"
        rows = rows.filter(
            Q(**{f"{column}__{before}": moment})
            | Q(**{column: moment, f"event_hash__{before}": after[1]})
        )
    sign = "-" if query.descending else ""
    found = list(rows.order_by(f"{sign}{column}", f"{sign}event_hash")[: per_page + 1])
    more = len(found) > per_page
    found = found[:per_page]
    last = found[-1] if more else None
    key = (getattr(last, column).isoformat(), last.event_hash) if last else None
    return EventPage(events=found, next_key=key)


def event_count_exceeds(*, organisation: Organisation, query: EventQuery, limit: int) -> bool:
    """Whether more than `limit` visible events answer the query (counting at most
    `limit + 1` of them)."""
    rows = query.apply(events_visible_to(organisation=organisation))
    return bool(rows.order_by()[: limit + 1].count() > limit)


def event_by_id(*, organisation: Organisation, event_id: str) -> EpcisEvent | None:
    """A visible event by its eventID or its event hash."""
    rows = events_visible_to(organisation=organisation)
    return rows.filter(Q(event_id=event_id) | Q(event_hash=event_id)).order_by("event_hash").first()


#: The top-level resources of the binding and the column each lists.
RESOURCE_COLUMNS = {
    "epcs": "epcs",
    "bizSteps": "biz_step",
    "bizLocations": "biz_location",
    "readPoints": "read_point",
    "dispositions": "disposition",
}


def resource_names(
    *, organisation: Organisation, resource: str, per_page: int, after: str | None = None
) -> tuple[list[str], str | None]:
    """A page of the distinct values (EPCs, business steps, ...) the visible events name,
    in order; and the last value when more follow."""
    column = RESOURCE_COLUMNS[resource]
    if column == "epcs" and stock_scope(organisation=organisation).everything:
        return _all_epc_names(per_page=per_page, after=after)
    rows: Any = events_visible_to(organisation=organisation)
    if column == "epcs":
        walked = _visible_epc_walk(rows, per_page=per_page, after=after)
        return walked if walked is not None else _epc_names(rows, per_page=per_page, after=after)
    names = rows.exclude(**{column: ""}).values_list(column, flat=True).distinct().order_by(column)
    if after is not None:
        names = names.filter(**{f"{column}__gt": after})
    found = list(names[: per_page + 1])
    more = len(found) > per_page
    return found[:per_page], (found[per_page - 1] if more else None)


#: The distinct EPCs in order, one probe of `epcis_event_epc`'s (epc, event_id) btree each
#: (a "loose index scan"): the cost is the page's size, not the number of events.
_NEXT_EPCS = """
WITH RECURSIVE names(epc) AS (
    (SELECT epc FROM epcis_event_epc WHERE epc > %s ORDER BY epc LIMIT 1)
    UNION ALL
    SELECT (SELECT x.epc FROM epcis_event_epc x WHERE x.epc > names.epc ORDER BY x.epc LIMIT 1)
    FROM names WHERE names.epc IS NOT NULL
)
SELECT epc FROM names WHERE epc IS NOT NULL LIMIT %s
"""


def _all_epc_names(*, per_page: int, after: str | None) -> tuple[list[str], str | None]:
    """Every stored event's EPCs (for whoever sees every event), from the table the
    migration `0008_epcis_event_epcs_index` keeps in step with `epcs` by triggers."""
    with connection.cursor() as cursor:
        # "" sorts before every EPC (none is empty).
        cursor.execute(_NEXT_EPCS, [after if after is not None else "", per_page + 1])
        found = [str(row[0]) for row in cursor.fetchall()]
    more = len(found) > per_page
    return found[:per_page], (found[per_page - 1] if more else None)


#: The (epc, event) rows of `epcis_event_epc` in index order from `after`, each marked
#: whether the organisation may see the event, until more than a page of distinct visible
#: EPCs is found or the budget of rows is spent. The visibility test is the visible
#: events' query narrowed to one id (a primary key probe).
_VISIBLE_WALK = """
WITH RECURSIVE walk(epc, event_id, seen, found, steps, ok) AS (
    (SELECT x.epc, x.event_id, CASE WHEN v.ok THEN x.epc END, CASE WHEN v.ok THEN 1 ELSE 0 END,
        1, v.ok
    FROM (SELECT epc, event_id FROM epcis_event_epc WHERE epc > %s
          ORDER BY epc, event_id LIMIT 1) AS x
    CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT 1 FROM ({visible}) AS vis WHERE vis.id = x.event_id) AS ok
    ) AS v)
    UNION ALL
    SELECT n.epc, n.event_id,
        CASE WHEN v.ok THEN n.epc ELSE w.seen END,
        w.found + CASE WHEN v.ok AND n.epc IS DISTINCT FROM w.seen THEN 1 ELSE 0 END,
        w.steps + 1, v.ok
    FROM walk AS w
    CROSS JOIN LATERAL (
        SELECT x.epc, x.event_id FROM epcis_event_epc x
        WHERE (x.epc, x.event_id) > (w.epc, w.event_id) ORDER BY x.epc, x.event_id LIMIT 1
    ) AS n
    CROSS JOIN LATERAL (
        SELECT EXISTS (SELECT 1 FROM ({visible}) AS vis WHERE vis.id = n.event_id) AS ok
    ) AS v
    WHERE w.steps < %s AND w.found <= %s
)
SELECT epc, ok FROM walk ORDER BY steps
"""


def _visible_epc_walk(
    rows: QuerySet[EpcisEvent], *, per_page: int, after: str | None
) -> tuple[list[str], str | None] | None:
    """A page of the EPCs an organisation's visible events name, walking the EPC table in
    order and testing each row's event: fast when the visible events are not rare among
    the walked ones (public facts make them common). None when the walk's budget ran out
    first (few visible events): `_epc_names` then sorts the visible events' EPCs."""
    budget = min(20_000, 20 * (per_page + 1))
    visible, params = rows.values("id").query.sql_with_params()
    sql = _VISIBLE_WALK.replace("{visible}", visible)
    with connection.cursor() as cursor:
        start = after if after is not None else ""
        cursor.execute(sql, [start, *params, *params, budget, per_page])
        walked = cursor.fetchall()
    found = list(dict.fromkeys(str(epc) for epc, ok in walked if ok))
    if len(found) <= per_page and len(walked) >= budget:
        return None
    more = len(found) > per_page
    return found[:per_page], (found[per_page - 1] if more else None)


def _epc_names(
    rows: QuerySet[EpcisEvent], *, per_page: int, after: str | None
) -> tuple[list[str], str | None]:
    # A set-returning unnest cannot sit in the ORM's WHERE: wrap the visible rows' query.
    inner, params = rows.values("epcs").query.sql_with_params()
    sql = f"SELECT DISTINCT e FROM ({inner}) AS v, unnest(v.epcs) AS e"
    args = list(params)
    if after is not None:
        sql += " WHERE e > %s"
        args.append(after)
    sql += " ORDER BY e LIMIT %s"
    args.append(per_page + 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        found = [str(row[0]) for row in cursor.fetchall()]
    more = len(found) > per_page
    return found[:per_page], (found[per_page - 1] if more else None)


def resource_exists(*, organisation: Organisation, resource: str, name: str) -> bool:
    """Whether a visible event names this EPC (either form), business step, ..."""
    rows = events_visible_to(organisation=organisation)
    if resource == "epcs":
        return rows.filter(epcs__overlap=identifier_forms(name)).exists()
    if resource in {"bizSteps", "dispositions"}:
        kind = "bizStep" if resource == "bizSteps" else "disposition"
        return rows.filter(**{RESOURCE_COLUMNS[resource]: vocabulary_term(kind, name)}).exists()
    return rows.filter(**{RESOURCE_COLUMNS[resource]: name}).exists()


def named_queries(*, organisation: Organisation) -> list[NamedQuery]:
    return list(NamedQuery.objects.filter(organisation=organisation).order_by("name"))


def named_query(*, organisation: Organisation, name: str) -> NamedQuery | None:
    return NamedQuery.objects.filter(organisation=organisation, name=name).first()


def capture_job_events(*, job: CaptureJob) -> list[EpcisEvent]:
    """The events a finished capture job stored (each keeps its job), with the operations
    they became."""
    if job.finished_at is None:
        return []
    return list(job.events.select_related("operation").order_by("id"))
