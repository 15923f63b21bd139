"""EPCIS capture: a document (or one event) from a partner's system becomes stored events
and, where an event says something the chain records, operations signed by the capturing
organisation (`webapp.epcis.mapping`). Pure of HTTP: the views in `webapp.api.epcis` hand
over the body and headers and turn `CaptureRefused` into a problem document.

The steps, for a document: parse (JSON, or EPCIS 2.0 / 1.2 XML converted to the same JSON
model), check against GS1's JSON Schema, hash each event (CBV 2.0), find duplicates (a
hash already stored, or twice in the document), map, store.

- `rollback` (the default): all or nothing. A schema problem anywhere refuses the document
  up front (`ValidationException`, naming the paths). A duplicate or a mapping refusal
  fails the job: every row and every operation of the capture is rolled back (one
  database transaction; operations are dispatched only when it commits).
- `proceed`: each event stands alone; the valid ones go in, the others are listed in the
  job's `errors` with their index, eventID and problems.

Besides its operation, an event brings in the same transaction: the links to our
certificates its `certificationInfo` names (`webapp.epcis.certification`), the sensor
readings of its `sensorElementList` about the lots it names (`webapp.epcis.sensors`,
stored by `webapp.monitoring`), and the links between an erroneous event and its
corrective events (`webapp.epcis.corrections`, which also cancels a declared shipping's
open handoff). A refusal of any of them refuses the event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from webapp.epcis.certification import certificate_links
from webapp.epcis.columns import event_columns
from webapp.epcis.corrections import correction_undo, corrections_found, corrections_link
from webapp.epcis.hashing import event_hash
from webapp.epcis.mapping import chain_action, event_lot_ids, map_event
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.epcis.sensors import event_measurements
from webapp.epcis.validation import (
    Problem,
    document_problems,
    event_problems,
    problems_by_event,
)
from webapp.epcis.xml import EpcisXmlError, parse_epcis_xml
from webapp.monitoring.models import SensorReading
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation

#: The most events one capture takes (announced as GS1-EPCIS-Capture-Limit).
CAPTURE_LIMIT: int = getattr(settings, "EPCIS_CAPTURE_LIMIT", 10_000)
#: The largest body one capture takes, in bytes (GS1-EPCIS-Capture-File-Size-Limit).
CAPTURE_FILE_SIZE_LIMIT: int = getattr(settings, "EPCIS_CAPTURE_FILE_SIZE_LIMIT", 20_000_000)

VALIDATION = "epcisException:ValidationException"
LIMIT_EXCEEDED = "epcisException:CaptureLimitExceededException"
ALREADY_EXISTS = "epcisException:ResourceAlreadyExistsException"
UNSUPPORTED = "epcisException:UnsupportedMediaTypeException"
SECURITY = "epcisException:SecurityException"


class CaptureRefused(Exception):
    """The whole request is refused: nothing was stored, no job was created."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str = "",
        problems: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.problems = list(problems)


def _problem_lines(found: list[Problem]) -> list[str]:
    return [str(p) for p in found]


def parse_body(body: bytes, content_type: str) -> Any:
    """The document (or event) a request body holds, as EPCIS 2.0 JSON."""
    if len(body) > CAPTURE_FILE_SIZE_LIMIT:
        raise CaptureRefused(
            413,
            LIMIT_EXCEEDED,
            "Capture payload too large",
            f"The body has more than {CAPTURE_FILE_SIZE_LIMIT} bytes.",
        )
    media = content_type.split(";")[0].strip().lower()
    if media.endswith("xml"):
        try:
            return parse_epcis_xml(body)
        except EpcisXmlError as exc:
            raise CaptureRefused(
                400, VALIDATION, "The XML document is not valid", str(exc)
            ) from exc
    if media and media not in ("application/json", "application/ld+json"):
        raise CaptureRefused(
            415,
            UNSUPPORTED,
            "Unsupported media type",
            "Send application/json, application/ld+json or application/xml.",
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaptureRefused(400, VALIDATION, "The body is not JSON", str(exc)) from exc


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


def _prepare(index: int, event: dict[str, Any], context: Any) -> Prepared:
    """An event's hash and columns. An event's own `@context` (a single event POSTed to
    /events carries one) is its namespaces, not part of it: the same event hashes the
    same whether it came alone or in a document."""
    if "@context" in event:
        context = event["@context"]
        hashed = {k: v for k, v in event.items() if k != "@context"}
    else:
        hashed = event
    return Prepared(index, event, event_hash(hashed, context), event_columns(event))


def _mark_duplicates(prepared: list[Prepared], organisation: Organisation) -> None:
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


def _declare_errors(declarations: list[Prepared]) -> None:
    """Record error declarations on the events they correct (the document keeps it too),
    with the links to their corrective events."""
    for p in declarations:
        row = EpcisEvent.objects.select_for_update().get(event_hash=p.hash)
        row.error_declaration = p.event["errorDeclaration"]
        row.document = {**row.document, "errorDeclaration": p.event["errorDeclaration"]}
        row.save(update_fields=["error_declaration", "document"])
        corrections_link(erroneous=row, declaration=p.event["errorDeclaration"])


def _acts(p: Prepared) -> bool:
    """Whether an event needs more than its row: a chain action, links or readings."""
    if p.declares_error:
        return not p.problems
    keys = ("certificationInfo", "sensorElementList")
    return chain_action(p.event) is not None or any(p.event.get(k) for k in keys)


def _apply(p: Prepared, organisation: Organisation, lots: dict[str, int]) -> None:
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


def _stored(new: list[Prepared], organisation: Organisation) -> list[SensorReading]:
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


def _refusal_lines(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            msg if key == "__all__" else f"{key}: {msg}"
            for key, messages in exc.message_dict.items()
            for msg in messages
        ]
    return [str(m) for m in exc.messages]


def _lot_ids(operation: Operation | None) -> list[str]:
    if operation is None or operation.lot_id is None:
        return []
    return [str(int(operation.lot_id))]


def _rows(
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
            lot_ids=_lot_ids(p.operation),
        )
        for p in prepared
    ]


def _insert(rows: list[EpcisEvent]) -> None:
    """Store new rows: PostgreSQL's COPY (a 10,000-event capture spends most of its time
    building one INSERT statement otherwise), bulk_create elsewhere. Each value is
    prepared by its field, exactly as an INSERT would have it."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        EpcisEvent.objects.bulk_create(rows, batch_size=2000)
        return
    fields = [f for f in EpcisEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(EpcisEvent._meta.db_table)
    with (
        connection.wrap_database_errors,  # psycopg's errors as django's (IntegrityError)
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields])


class _Rollback(Exception):
    pass


def _events_checked(
    document: Any, error_behaviour: str
) -> tuple[list[Any], dict[int, list[Problem]]]:
    """The document's events and the schema problems of each (proceed mode); refuses the
    document as a whole when it cannot be captured at all."""
    if error_behaviour not in CaptureJob.ErrorBehaviour.values:
        raise CaptureRefused(
            400, VALIDATION, "Unknown GS1-Capture-Error-Behaviour", "Give rollback or proceed."
        )
    if not isinstance(document, dict) or document.get("type") != "EPCISDocument":
        raise CaptureRefused(
            400, VALIDATION, "An EPCISDocument is expected", "type: an EPCISDocument is expected"
        )
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(events, list) and len(events) > CAPTURE_LIMIT:
        raise CaptureRefused(
            413,
            LIMIT_EXCEEDED,
            "Capture payload too large",
            f"The document has {len(events)} events; at most {CAPTURE_LIMIT} are captured at once.",
        )
    own, by_event = problems_by_event(document_problems(document))
    if own or (by_event and error_behaviour == CaptureJob.ErrorBehaviour.ROLLBACK):
        lines = _problem_lines(own + [p for ps in by_event.values() for p in ps])
        raise CaptureRefused(
            400, VALIDATION, "The document is not valid EPCIS 2.0", "; ".join(lines[:20]), lines
        )
    return events or [], by_event


def _store(prepared: list[Prepared], job: CaptureJob) -> list[Prepared]:
    """Map and store, in one transaction; the events captured (none when rolled back).
    Raises IntegrityError when a concurrent capture stored one of the events first."""
    organisation = job.organisation
    try:
        with transaction.atomic():
            lots: dict[str, int] = {}  # lots registered by this capture, by GS1 key
            for p in prepared:
                if p.duplicate or not _acts(p):
                    continue  # stored as it is: no savepoint, no service call
                known = dict(lots)  # a refused event's lots are rolled back with it
                try:
                    with transaction.atomic():
                        _apply(p, organisation, known)
                except ValidationError as exc:
                    p.problems += _refusal_lines(exc)
                else:
                    lots.update(known)
            failed = [p for p in prepared if p.problems]
            if failed and job.error_behaviour == CaptureJob.ErrorBehaviour.ROLLBACK:
                raise _Rollback()
            captured = [p for p in prepared if not p.problems]
            new = [p for p in captured if not p.declares_error]
            _insert(_rows(new, organisation, job))
            _stored(new, organisation)
            _declare_errors([p for p in captured if p.declares_error])
    except _Rollback:
        return []
    return captured


#: The job's error when a concurrent capture stored one of the events first.
RACED = {
    "index": None,
    "eventID": "",
    "problems": [
        "Another capture stored some of these events at the same moment; nothing was "
        "captured. Capture again to see which are duplicates."
    ],
}


def capture_document(
    *,
    organisation: Organisation,
    document: Any,
    error_behaviour: str = CaptureJob.ErrorBehaviour.ROLLBACK,
) -> CaptureJob:
    """Capture an EPCISDocument for `organisation`; the finished job says what happened.

    Raises CaptureRefused when the document as a whole is refused (not a document, over
    the limit, or - in rollback mode - not valid by the schema)."""
    events, by_event = _events_checked(document, error_behaviour)
    context = document.get("@context")
    job = CaptureJob.objects.create(
        organisation=organisation, error_behaviour=error_behaviour, event_count=len(events)
    )
    errors: list[dict[str, Any]] = [
        {
            "index": i,
            "eventID": events[i].get("eventID", "") if isinstance(events[i], dict) else "",
            "problems": _problem_lines(found),
        }
        for i, found in sorted(by_event.items())
    ]
    prepared = [_prepare(i, e, context) for i, e in enumerate(events) if i not in by_event]
    _mark_duplicates(prepared, organisation)
    try:
        captured = _store(prepared, job)
    except IntegrityError:
        captured = []
        errors.append(RACED)
    errors += [
        {"index": p.index, "eventID": p.event.get("eventID", ""), "problems": p.problems}
        for p in prepared
        if p.problems
    ]
    errors.sort(key=lambda e: -1 if e["index"] is None else e["index"])
    job.errors = errors
    job.error_count = len(errors)
    job.duplicate_count = sum(1 for p in prepared if p.duplicate)
    job.captured_count = len(captured)
    job.status = CaptureJob.Status.FAILED if errors else CaptureJob.Status.SUCCESS
    job.finished_at = timezone.now()
    job.save()
    return job


def capture_event(*, organisation: Organisation, event: Any) -> EpcisEvent:
    """Capture one event synchronously (POST /events). Refused as a whole: not valid
    (400), a duplicate (409), or a mapping the chain would refuse (400)."""
    found = event_problems(event)
    if found:
        lines = _problem_lines(found)
        raise CaptureRefused(
            400, VALIDATION, "The event is not valid EPCIS 2.0", "; ".join(lines[:20]), lines
        )
    prepared = _prepare(0, event, event.get("@context"))
    _mark_duplicates([prepared], organisation)
    if prepared.duplicate:
        raise CaptureRefused(409, ALREADY_EXISTS, "The event is already captured", prepared.hash)
    if prepared.problems:  # an error declaration of another organisation's event
        raise CaptureRefused(
            403, SECURITY, "Not your event", "; ".join(prepared.problems), prepared.problems
        )
    try:
        with transaction.atomic():
            _apply(prepared, organisation, {})
            if prepared.declares_error:
                _declare_errors([prepared])
                return EpcisEvent.objects.get(event_hash=prepared.hash)
            (row,) = EpcisEvent.objects.bulk_create(_rows([prepared], organisation))
            _stored([prepared], organisation)
    except ValidationError as exc:
        lines = _refusal_lines(exc)
        raise CaptureRefused(
            400, VALIDATION, "The event cannot be recorded", "; ".join(lines), lines
        ) from exc
    except IntegrityError as exc:  # captured concurrently a moment ago
        raise CaptureRefused(
            409, ALREADY_EXISTS, "The event is already captured", prepared.hash
        ) from exc
    return row


def capture_job_list(*, organisation: Organisation) -> Any:
    return CaptureJob.objects.filter(organisation=organisation)


def capture_job(*, organisation: Organisation, capture_id: str) -> CaptureJob | None:
    try:
        return CaptureJob.objects.filter(organisation=organisation, id=capture_id).first()
    except ValidationError:  # not a UUID
        return None
