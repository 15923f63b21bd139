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
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.epcis.capture_events import (
    Prepared,
    duplicates_mark,
    errors_declare,
    event_acts,
    event_apply,
    event_apply_one,
    event_prepare,
    event_rows,
    event_rows_insert,
    events_apply_run,
    events_stored,
    refusal_lines,
    registers_only,
)
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.epcis.validation import (
    Problem,
    document_problems,
    event_problems,
    problems_by_event,
)
from webapp.epcis.xml import EpcisXmlError, parse_epcis_xml
from webapp.operations.services import task_send_on_commit
from webapp.organisations.models import Organisation

#: The workers' task that captures a large document in the background.
CAPTURE_TASK = "workers.tasks.epcis_capture"

#: The most events one capture takes (announced as GS1-EPCIS-Capture-Limit).
CAPTURE_LIMIT: int = getattr(settings, "EPCIS_CAPTURE_LIMIT", 10_000)
#: The most events a capture request captures before it answers; larger documents are
#: captured by a worker while the job reads `running`.
CAPTURE_INLINE_EVENTS: int = getattr(settings, "EPCIS_CAPTURE_INLINE_EVENTS", 500)
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


class _Rollback(Exception):
    pass


def _events_checked(document: Any, error_behaviour: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The document's events and the job errors of those the schema refuses (proceed
    mode: `index`, `eventID`, `problems`); refuses the document as a whole when it cannot
    be captured at all."""
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
    events = events or []
    return events, [
        {
            "index": i,
            "eventID": events[i].get("eventID", "") if isinstance(events[i], dict) else "",
            "problems": _problem_lines(found),
        }
        for i, found in sorted(by_event.items())
    ]


def _store(prepared: list[Prepared], job: CaptureJob) -> list[Prepared]:
    """Map and store, in one transaction; the events captured (none when rolled back).
    Raises IntegrityError when a concurrent capture stored one of the events first."""
    organisation = job.organisation
    rollback = job.error_behaviour == CaptureJob.ErrorBehaviour.ROLLBACK
    try:
        with transaction.atomic():
            lots: dict[str, int] = {}  # lots registered by this capture, by GS1 key
            run: list[Prepared] = []  # commissionings waiting to be registered at once
            for p in prepared:
                if p.duplicate or not event_acts(p):
                    continue  # stored as it is: no savepoint, no service call
                if rollback and registers_only(p):
                    run.append(p)
                    continue
                events_apply_run(run, organisation, lots)
                run = []
                event_apply_one(p, organisation, lots)
            events_apply_run(run, organisation, lots)
            failed = [p for p in prepared if p.problems]
            if failed and job.error_behaviour == CaptureJob.ErrorBehaviour.ROLLBACK:
                raise _Rollback()
            captured = [p for p in prepared if not p.problems]
            new = [p for p in captured if not p.declares_error]
            event_rows_insert(event_rows(new, organisation, job))
            events_stored(new, organisation)
            errors_declare([p for p in captured if p.declares_error])
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
    """Capture an EPCISDocument for `organisation` now; the finished job says what happened.

    Raises CaptureRefused when the document as a whole is refused (not a document, over
    the limit, or - in rollback mode - not valid by the schema)."""
    events, refused = _events_checked(document, error_behaviour)
    job = CaptureJob.objects.create(
        organisation=organisation, error_behaviour=error_behaviour, event_count=len(events)
    )
    return _capture_run(job, document, events, refused)


def capture_accept(
    *,
    organisation: Organisation,
    document: Any,
    error_behaviour: str = CaptureJob.ErrorBehaviour.ROLLBACK,
) -> CaptureJob:
    """`POST /capture`: a document the schema refuses is refused now (CaptureRefused); a
    small one is captured now; one of more than `CAPTURE_INLINE_EVENTS` events is kept on
    its job, which a worker captures (`capture_job_run`) while the job reads `running`.
    Where no workers take tasks (OPERATIONS_DISPATCH off) every capture runs now."""
    events, refused = _events_checked(document, error_behaviour)
    if len(events) <= CAPTURE_INLINE_EVENTS or not settings.OPERATIONS_DISPATCH:
        job = CaptureJob.objects.create(
            organisation=organisation, error_behaviour=error_behaviour, event_count=len(events)
        )
        return _capture_run(job, document, events, refused)
    with transaction.atomic():
        job = CaptureJob.objects.create(
            organisation=organisation,
            error_behaviour=error_behaviour,
            event_count=len(events),
            document=document,
            errors=refused,  # checked now (proceed mode): the worker only captures
        )
        _dispatch(job)
    return job


def _dispatch(job: CaptureJob) -> None:
    """Hand the job to the workers once it is committed; a broker that is down loses
    nothing (`capture_jobs_resume` sends it again)."""
    task_send_on_commit(CAPTURE_TASK, str(job.id))


def capture_job_run(*, job_id: str) -> CaptureJob | None:
    """Capture the document a job keeps (the workers' task). A job another worker holds,
    or one already finished, is left alone; returns the job when this call captured it."""
    with transaction.atomic():
        job = (
            CaptureJob.objects.select_for_update(skip_locked=True)
            .filter(id=job_id, status=CaptureJob.Status.RUNNING, document__isnull=False)
            .first()
        )
        if job is None:
            return None
        document: dict[str, Any] = job.document or {}
        events = document["epcisBody"]["eventList"]  # checked when it was accepted
        return _capture_run(job, document, events, list(job.errors))


def capture_jobs_resume(*, stale_after_seconds: float = 120.0) -> int:
    """Send again the background captures that have not moved for `stale_after_seconds`
    (their worker died, or the broker lost the message). Returns how many were sent."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    stale = CaptureJob.objects.filter(
        status=CaptureJob.Status.RUNNING, document__isnull=False, updated_at__lt=cutoff
    )
    sent = 0
    for job in stale[:50]:
        CaptureJob.objects.filter(id=job.id).update(updated_at=timezone.now())
        with transaction.atomic():
            _dispatch(job)
        sent += 1
    return sent


def _capture_run(
    job: CaptureJob, document: Any, events: list[Any], refused: list[dict[str, Any]]
) -> CaptureJob:
    """Capture `events` but those the schema `refused` (their job errors already)."""
    organisation = job.organisation
    context = document.get("@context")
    errors = list(refused)
    skipped = {e["index"] for e in refused}
    prepared = [event_prepare(i, e, context) for i, e in enumerate(events) if i not in skipped]
    duplicates_mark(prepared, organisation)
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
    job.document = None
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
    prepared = event_prepare(0, event, event.get("@context"))
    duplicates_mark([prepared], organisation)
    if prepared.duplicate:
        raise CaptureRefused(409, ALREADY_EXISTS, "The event is already captured", prepared.hash)
    if prepared.problems:  # an error declaration of another organisation's event
        raise CaptureRefused(
            403, SECURITY, "Not your event", "; ".join(prepared.problems), prepared.problems
        )
    try:
        with transaction.atomic():
            event_apply(prepared, organisation, {})
            if prepared.declares_error:
                errors_declare([prepared])
                return EpcisEvent.objects.get(event_hash=prepared.hash)
            (row,) = EpcisEvent.objects.bulk_create(event_rows([prepared], organisation))
            events_stored([prepared], organisation)
    except ValidationError as exc:
        lines = refusal_lines(exc)
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
