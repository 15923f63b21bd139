"""EPCIS 2.0 REST binding, capture side: `POST /epcis/capture` (a document; 202 and the
job's Location), `GET /epcis/capture[/{captureID}]` (the jobs), `POST /epcis/events`
(one event, synchronously: 201 or 409), and `OPTIONS` announcing the capture limits.

The capture runs inside the request (the job is finished when 202 is answered: `running`
is false); the job is still the place the outcome is read from, as the binding says.
Errors are problem+json with the binding's `epcisException:*` types. An organisation's
API token authenticates; capturing needs a read-and-write token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.epcis.base import EpcisResource, capture_limit_headers
from webapp.api.problems import problem
from webapp.epcis.capture import (
    CAPTURE_FILE_SIZE_LIMIT,
    LIMIT_EXCEEDED,
    CaptureRefused,
    capture_accept,
    capture_event,
    capture_job,
    capture_job_list,
    parse_body,
)
from webapp.epcis.models import CaptureJob

NOT_FOUND = "epcisException:NoSuchResourceException"
VALIDATION = "epcisException:ValidationException"


def job_json(job: CaptureJob) -> dict[str, Any]:
    return {
        "captureID": str(job.id),
        "createdAt": job.created_at.isoformat(),
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "running": job.status == CaptureJob.Status.RUNNING,
        "success": job.status != CaptureJob.Status.FAILED,
        "captureErrorBehaviour": job.error_behaviour,
        "eventCount": job.event_count,
        "capturedCount": job.captured_count,
        "duplicateCount": job.duplicate_count,
        "errors": job.errors,
    }


def _refused(exc: CaptureRefused) -> Response:
    extra: dict[str, Any] = {"type": exc.kind}
    if exc.problems:
        extra["problems"] = exc.problems
    response = problem(exc.status, exc.title, exc.detail, **extra)
    if exc.kind == LIMIT_EXCEEDED:
        for name, value in capture_limit_headers().items():
            response[name] = value
    return response


class EpcisView(EpcisResource):
    """Shared by the capture resources: the validation exception type, the body read
    within the size limit; `OPTIONS` announces the capture limits."""

    allow = "OPTIONS, GET, POST"

    def discovery_headers(self) -> dict[str, str]:
        return {**capture_limit_headers(), "GS1-EPCIS-Capture-Error-Behaviour": "rollback, proceed"}

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)
        if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
            response.data["type"] = VALIDATION
        return response

    def body(self, request: Request) -> bytes:
        """The raw body, refused (413) past the size limit by its Content-Length and by
        what actually arrives."""
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > CAPTURE_FILE_SIZE_LIMIT:
            raise CaptureRefused(
                413,
                LIMIT_EXCEEDED,
                "Capture payload too large",
                f"The body has more than {CAPTURE_FILE_SIZE_LIMIT} bytes.",
            )
        try:
            stream = request.stream
            content = stream.read(CAPTURE_FILE_SIZE_LIMIT + 1) if stream is not None else b""
        except RequestDataTooBig as exc:
            raise CaptureRefused(
                413, LIMIT_EXCEEDED, "Capture payload too large", str(exc)
            ) from exc
        if len(content) > CAPTURE_FILE_SIZE_LIMIT:
            raise CaptureRefused(
                413,
                LIMIT_EXCEEDED,
                "Capture payload too large",
                f"The body has more than {CAPTURE_FILE_SIZE_LIMIT} bytes.",
            )
        return bytes(content)


class CaptureApi(EpcisView):
    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        organisation = acting_organisation(request)
        behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback").strip()
        try:
            document = parse_body(self.body(request), request.content_type or "")
            job = capture_accept(
                organisation=organisation, document=document, error_behaviour=behaviour.lower()
            )
        except CaptureRefused as exc:
            return _refused(exc)
        location = request.build_absolute_uri(f"/epcis/capture/{job.id}")
        return Response(status=202, headers={"Location": location, **capture_limit_headers()})

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        jobs = capture_job_list(organisation=acting_organisation(request))[:100]
        return Response([job_json(job) for job in jobs])


class CaptureJobApi(EpcisView):
    allow = "OPTIONS, GET"

    def discovery_headers(self) -> dict[str, str]:
        return {}  # a job captures nothing

    @extend_schema(exclude=True)
    def get(self, request: Request, capture_id: str) -> Response:
        job = capture_job(organisation=acting_organisation(request), capture_id=capture_id)
        if job is None:
            return problem(
                404, "No such capture job", f"No capture job {capture_id}.", type=NOT_FOUND
            )
        return Response(job_json(job))


class EventCaptureApi(EpcisView):
    """One event, captured synchronously. (GET and OPTIONS /epcis/events are the query
    side's, `query_views.EventsApi`.)"""

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        organisation = acting_organisation(request)
        try:
            event = parse_body(self.body(request), request.content_type or "")
            if isinstance(event, dict) and event.get("type") == "EPCISDocument":
                body = event.get("epcisBody") or {}
                events = body.get("eventList") if isinstance(body, dict) else None
                if not isinstance(events, list) or len(events) != 1:
                    raise CaptureRefused(
                        400, VALIDATION, "One event is expected", "POST /capture takes documents."
                    )
                context = event.get("@context")
                event = {"@context": context, **events[0]} if context else events[0]
            row = capture_event(organisation=organisation, event=event)
        except CaptureRefused as exc:
            return _refused(exc)
        location = request.build_absolute_uri(
            f"/epcis/events/{quote(row.event_id or row.event_hash, safe='')}"
        )
        return Response(status=201, headers={"Location": location})
