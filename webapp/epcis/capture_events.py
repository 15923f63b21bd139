"""One captured event on its way in: its hash and columns, the duplicates among them, the
chain actions, links and readings it brings (`webapp.epcis.capture` runs these steps in its
transaction), and the rows that store it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from webapp.bulk import rows_copy
from webapp.epcis.certification import certificate_links
from webapp.epcis.columns import event_columns
from webapp.epcis.corrections import correction_undo, corrections_found, corrections_link
from webapp.epcis.hashing import event_hash
from webapp.epcis.mapping import chain_action, event_lot_ids, map_event, register_many
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.epcis.sensors import event_measurements
from webapp.lots.services import RegistrationRefused
from webapp.monitoring.models import SensorReading
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation


@dataclass
class Prepared:
    """One event on its way in: its place in the document, hash and columns."""

    index: int
    event: dict[str, Any]
    hash: str
    columns: dict[str, Any]
    operation: Operation | None = None
    problems: list[str] = field(default_factory=list)
    duplicate: bool = False
    declares_error: bool = False
    certificate_ids: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    #: The lots the sensor readings are about (the lots the event names or created).
    reading_lots: list[int] = field(default_factory=list)


def event_prepare(index: int, event: dict[str, Any], context: Any) -> Prepared:
    """An event's hash and columns. An event's own `@context` (a single event POSTed to
    /events carries one) is its namespaces, not part of it: the same event hashes the
    same whether it came alone or in a document."""
    if "@context" in event:
        context = event["@context"]
        hashed = {k: v for k, v in event.items() if k != "@context"}
    else:
        hashed = event
    return Prepared(index, event, event_hash(hashed, context), event_columns(event))


def duplicates_mark(prepared: list[Prepared], organisation: Organisation) -> None:
    """Flag events whose hash is stored already or comes twice. An error declaration
    (`errorDeclaration`, excluded from the hash) of a stored event is no duplicate: it
    declares that event erroneous, which only the organisation that captured it may."""
    hashes = [p.hash for p in prepared]
    stored = {
        row[0]: row[1:]
        for row in EpcisEvent.objects.filter(event_hash__in=hashes).values_list(
            "event_hash", "organisation_id", "error_declaration"
        )
    }
    seen: set[str] = set()
    for p in prepared:
        declaration = p.event.get("errorDeclaration")
        if p.hash in seen:
            p.duplicate = True
            p.problems.append(f"The event appears twice in the document (hash {p.hash}).")
        elif p.hash in stored and isinstance(declaration, dict) and not stored[p.hash][1]:
            if stored[p.hash][0] != organisation.pk:
                p.problems.append(
                    "Only the organisation that captured an event can declare it erroneous."
                )
            p.declares_error = True
        elif p.hash in stored:
            p.duplicate = True
            p.problems.append(f"The event is already captured (hash {p.hash}).")
        seen.add(p.hash)


def errors_declare(declarations: list[Prepared]) -> None:
    """Record error declarations on the events they correct (the document keeps it too),
    with the links to their corrective events."""
    for p in declarations:
        row = EpcisEvent.objects.select_for_update().get(event_hash=p.hash)
        row.error_declaration = p.event["errorDeclaration"]
        row.document = {**row.document, "errorDeclaration": p.event["errorDeclaration"]}
        row.save(update_fields=["error_declaration", "document"])
        corrections_link(erroneous=row, declaration=p.event["errorDeclaration"])


def event_acts(p: Prepared) -> bool:
    """Whether an event needs more than its row: a chain action, links or readings."""
    if p.declares_error:
        return not p.problems
    keys = ("certificationInfo", "sensorElementList")
    return chain_action(p.event) is not None or any(p.event.get(k) for k in keys)


def event_apply(p: Prepared, organisation: Organisation, lots: dict[str, int]) -> None:
    """Check and carry out one event (the caller's savepoint holds its writes). Raises
    ValidationError when it is refused."""
    if p.declares_error:
        row = EpcisEvent.objects.select_related("operation").get(event_hash=p.hash)
        correction_undo(organisation=organisation, erroneous=row)
        return
    p.certificate_ids = certificate_links(p.event)
    p.measurements = event_measurements(p.event)
    p.operation = map_event(organisation=organisation, event=p.event, event_hash=p.hash, lots=lots)
    if p.measurements:
        p.reading_lots = event_lot_ids(p.event, lots=lots, operation=p.operation)


def event_apply_one(p: Prepared, organisation: Organisation, lots: dict[str, int]) -> None:
    """Carry out one event in its own savepoint; a refusal becomes its problems."""
    known = dict(lots)  # a refused event's lots are rolled back with it
    try:
        with transaction.atomic():
            event_apply(p, organisation, known)
    except ValidationError as exc:
        p.problems += refusal_lines(exc)
    else:
        lots.update(known)


def registers_only(p: Prepared) -> bool:
    """A commissioning that brings nothing but its lots: registered with its neighbours."""
    return (
        not p.declares_error
        and chain_action(p.event) == "lot.register"
        and not p.event.get("certificationInfo")
        and not p.event.get("sensorElementList")
    )


def events_apply_run(run: list[Prepared], organisation: Organisation, lots: dict[str, int]) -> None:
    """Register the lots of consecutive commissionings at once (`register_many`: a 10,000
    event capture spends most of its time in per-lot statements otherwise); when that is
    refused, one by one, so each refusal is its event's."""
    if not run:
        return
    known = dict(lots)
    try:
        with transaction.atomic():
            operations = register_many(
                organisation=organisation,
                events=[(p.event, p.hash) for p in run],
                lots=known,
            )
    except (ValidationError, RegistrationRefused):
        for p in run:
            event_apply_one(p, organisation, lots)
        return
    for p, operation in zip(run, operations, strict=True):
        p.operation = operation
    lots.update(known)


def events_stored(new: list[Prepared], organisation: Organisation) -> list[SensorReading]:
    """What follows the new rows in: their sensor readings, and the links of earlier
    declarations that named them as corrective events."""
    with_readings = [p for p in new if p.measurements and p.reading_lots]
    ids = dict(
        EpcisEvent.objects.filter(event_hash__in=[p.hash for p in with_readings]).values_list(
            "event_hash", "id"
        )
    )
    readings = []
    for p in with_readings:
        readings += sensor_readings_record(
            lot_ids=p.reading_lots,
            measurements=p.measurements,
            source="epcis",
            epcis_event_id=ids[p.hash],
        )
    corrections_found(organisation=organisation, event_hashes=[p.hash for p in new])
    return readings


def refusal_lines(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            msg if key == "__all__" else f"{key}: {msg}"
            for key, messages in exc.message_dict.items()
            for msg in messages
        ]
    return [str(m) for m in exc.messages]


def operation_lot_ids(operation: Operation | None) -> list[str]:
    if operation is None or operation.lot_id is None:
        return []
    return [str(int(operation.lot_id))]


def event_rows(
    prepared: list[Prepared], organisation: Organisation, job: CaptureJob | None = None
) -> list[EpcisEvent]:
    now = timezone.now()
    return [
        EpcisEvent(
            **p.columns,
            event_hash=p.hash,
            record_time=now,
            document=p.event,
            source=EpcisEvent.Source.CAPTURED,
            organisation=organisation,
            operation=p.operation,
            capture_job=job,
            certificate_ids=p.certificate_ids,
            # Who else may read it follows the lot it put on the chain (the query's tiers).
            lot_ids=operation_lot_ids(p.operation),
        )
        for p in prepared
    ]


def event_rows_insert(rows: list[EpcisEvent]) -> None:
    """Store new rows with COPY (`webapp.bulk`)."""
    rows_copy(EpcisEvent, rows)
