"""The portal's EPCIS page: an organisation's events (the same query and visibility tiers as
the REST binding at /epcis/events), filtered and downloadable as an EPCISDocument;
the upload of an EPCIS document (JSON or XML) through the one capture path
(`webapp.epcis.capture.capture_document`) and the page of its capture job, which polls a
status endpoint so a capture running in the background later needs no other page; and the
page of one event, with what its capture linked to it: our certificates it names, the
sensor readings it brought, its error declaration and corrective events."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from webapp.certificates.selectors import (
    certificate_list,
    certificate_status,
    certificate_type_name,
)
from webapp.epcis.capture import (
    CAPTURE_FILE_SIZE_LIMIT,
    CAPTURE_LIMIT,
    CaptureRefused,
    capture_document,
    capture_job,
    capture_job_list,
    parse_body,
)
from webapp.epcis.documents import epcis_document
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.epcis.query import EVENT_TYPES, QueryParameterError, parse_query
from webapp.epcis.selectors import capture_job_events, event_page, events_visible_to
from webapp.lots.selectors import lot_labels
from webapp.monitoring.models import SensorReading
from webapp.monitoring.selectors import sensor_readings_of_event
from webapp.operations.selectors import operations_described
from webapp.organisations.models import Organisation
from webapp.portal.access import organisation_of

#: Events on one page of the list.
PER_PAGE = 50
#: The most events one download holds (the capture limit: what went in comes out whole).
DOWNLOAD_LIMIT = CAPTURE_LIMIT
PAGE_SALT = "webapp.portal.epcis.page"
_EVENT_PATH = re.compile(r"^epcisBody\.eventList\[(\d+)\]\.?(.*)$")
#: An event's page is addressed by the hex digest of its event hash.
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class UploadForm(forms.Form):
    file = forms.FileField(
        label="EPCIS document (.json, .jsonld or .xml)",
        help_text=f"an EPCISDocument in EPCIS 2.0 JSON or XML (or 1.2 XML); at most "
        f"{CAPTURE_FILE_SIZE_LIMIT // 1_000_000} MB and {CAPTURE_LIMIT:,} events",
    )
    error_behaviour = forms.ChoiceField(
        label="When an event cannot be captured",
        choices=[
            (CaptureJob.ErrorBehaviour.ROLLBACK, "Capture nothing (all or nothing)"),
            (CaptureJob.ErrorBehaviour.PROCEED, "Capture the valid events, list the others"),
        ],
        initial=CaptureJob.ErrorBehaviour.ROLLBACK,
        widget=forms.RadioSelect,
    )


class FilterForm(forms.Form):
    event_type = forms.ChoiceField(
        label="Event type",
        required=False,
        choices=[("", "any")] + [(t, t.removesuffix("Event")) for t in EVENT_TYPES],
    )
    biz_step = forms.CharField(label="Business step", required=False, max_length=200)
    disposition = forms.CharField(label="Disposition", required=False, max_length=200)
    epc = forms.CharField(
        label="EPC or class",
        required=False,
        max_length=500,
        help_text="an EPC or class URN, a GS1 Digital Link URI, or a pattern",
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))


def words(term: str) -> str:
    """A CBV term as words: `in_transit` → `in transit`; a URI is shown as it is."""
    if ":" in term or "/" in term:
        return term
    return term.replace("_", " ")


def problem_in_words(line: str) -> str:
    """A schema problem (`epcisBody.eventList[2].action: 'X' is not one of ...`) with its
    path in words: `Event 3, action: ...`."""
    path, sep, message = line.partition(": ")
    if not sep:
        return line
    found = _EVENT_PATH.match(path)
    if found:
        index, field = int(found.group(1)), found.group(2)
        return f"Event {index + 1}{', ' + field if field else ''}: {message}"
    if path in {"", "$"}:
        return message
    return f"{path}: {message}"


def _start(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=timezone.get_current_timezone()).isoformat()


def _query_params(data: dict[str, Any]) -> dict[str, list[str]]:
    """The form's filters as the binding's query parameters."""
    params: dict[str, list[str]] = {}
    if data.get("event_type"):
        params["eventType"] = [data["event_type"]]
    if data.get("biz_step"):
        params["EQ_bizStep"] = [data["biz_step"].strip().replace(" ", "_")]
    if data.get("disposition"):
        params["EQ_disposition"] = [data["disposition"].strip().replace(" ", "_")]
    if data.get("epc"):
        params["MATCH_anyEPC"] = [data["epc"].strip()]
    if data.get("since"):
        params["GE_eventTime"] = [_start(data["since"])]
    if data.get("until"):
        params["LT_eventTime"] = [_start(data["until"] + timedelta(days=1))]
    return params


def event_digest(event: EpcisEvent) -> str:
    """The hex digest of `ni:///sha-256;<digest>?ver=CBV2.0`: the event page's address."""
    return event.event_hash.removeprefix("ni:///sha-256;").split("?", 1)[0]


def _event_row(event: EpcisEvent) -> dict[str, Any]:
    return {
        "event": event,
        "digest": event_digest(event),
        "id": event.event_id or event.event_hash,
        "type": event.event_type.removesuffix("Event"),
        "biz_step": words(event.biz_step),
        "disposition": words(event.disposition),
        "epcs": [e for e in event.epcs if not e.startswith("https://id.gs1.org/")][:4],
        "lot_ids": [int(lot) for lot in event.lot_ids or []],
    }


def _filtered(request: HttpRequest) -> tuple[FilterForm, dict[str, list[str]], str]:
    """The filter form, the query parameters it stands for, and a plain reason when the
    filters cannot be a query (empty then)."""
    form = FilterForm(request.GET)
    if not form.is_valid():
        return (
            form,
            {},
            "The filters are not valid: "
            + "; ".join(
                f"{form.fields[name].label}: {' '.join(str(e) for e in errors)}"
                for name, errors in form.errors.items()
            ),
        )
    return form, _query_params(form.cleaned_data), ""


def _page_key(request: HttpRequest, params: dict[str, list[str]]) -> tuple[str, str] | None:
    token = request.GET.get("page")
    if not token:
        return None
    try:
        key = signing.loads(token, salt=PAGE_SALT)
    except signing.BadSignature:
        raise QueryParameterError("page", "not a page this server gave.") from None
    if not isinstance(key, dict) or key.get("q") != params or len(key.get("after", [])) != 2:
        raise QueryParameterError("page", "the page belongs to other filters.")
    return (str(key["after"][0]), str(key["after"][1]))


@login_required
def epcis_events_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form, params, reason = _filtered(request)
    rows: list[dict[str, Any]] = []
    next_url = ""
    if not reason:
        try:
            query = parse_query(params)
            page = event_page(
                organisation=organisation,
                query=query,
                per_page=PER_PAGE,
                after=_page_key(request, params),
            )
        except QueryParameterError as exc:
            reason = f"The filters cannot be a query: {exc.message}"
        else:
            rows = [_event_row(e) for e in page.events]
            if page.next_key is not None:
                token = signing.dumps({"q": params, "after": list(page.next_key)}, salt=PAGE_SALT)
                others = request.GET.copy()
                others["page"] = token
                next_url = "?" + others.urlencode()
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "portal/epcis.html",
        {
            "form": form,
            "rows": rows,
            "reason": reason,
            "next_url": next_url,
            "first_page": "page" not in request.GET,
            "filters": filters.urlencode(),
            "jobs": capture_job_list(organisation=organisation)[:10],
        },
        status=400 if reason else 200,
    )


@login_required
def epcis_download_view(request: HttpRequest) -> HttpResponse:
    """The filtered events (newest first, up to `DOWNLOAD_LIMIT`) as an EPCISDocument."""
    organisation = organisation_of(request)
    _form, params, reason = _filtered(request)
    if not reason:
        try:
            page = event_page(
                organisation=organisation, query=parse_query(params), per_page=DOWNLOAD_LIMIT
            )
        except QueryParameterError as exc:
            reason = f"The filters cannot be a query: {exc.message}"
    if reason:
        return render(request, "portal/error.html", {"message": reason}, status=400)
    body = json.dumps(epcis_document(page.events), indent=1, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"epcis-events-{organisation.slug}-{timezone.now():%Y%m%d-%H%M%S}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    if page.next_key is not None:
        response["X-Events-Truncated"] = str(DOWNLOAD_LIMIT)
    return response


def _media_type(name: str, content: bytes) -> str:
    """JSON or XML, by the file's extension and else by its first character."""
    lowered = name.lower()
    if lowered.endswith(".xml"):
        return "application/xml"
    if lowered.endswith((".json", ".jsonld")):
        return "application/json"
    return "application/xml" if content.lstrip()[:1] == b"<" else "application/json"


@login_required
def epcis_upload_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    problems: list[str] = []
    if request.method == "POST":
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size is not None and upload.size > CAPTURE_FILE_SIZE_LIMIT:
                    raise CaptureRefused(
                        413,
                        "",
                        "The file is too large",
                        f"At most {CAPTURE_FILE_SIZE_LIMIT:,} bytes are captured at once.",
                    )
                content = upload.read(CAPTURE_FILE_SIZE_LIMIT + 1)
                document = parse_body(content, _media_type(upload.name or "", content))
                job = capture_document(
                    organisation=organisation,
                    document=document,
                    error_behaviour=form.cleaned_data["error_behaviour"],
                )
            except CaptureRefused as exc:
                status = exc.status if 400 <= exc.status < 500 else 400
                problems = [problem_in_words(p) for p in exc.problems][:100]
                # The detail repeats the problems, which are listed below the form.
                detail = f" {exc.detail}" if exc.detail and not problems else ""
                form.add_error("file", f"{exc.title}.{detail}")
            else:
                return redirect("portal:epcis-job", job_id=job.id)
    return render(
        request, "portal/epcis_upload.html", {"form": form, "problems": problems}, status=status
    )


def _job(organisation: Organisation, job_id: str) -> CaptureJob:
    job = capture_job(organisation=organisation, capture_id=job_id)
    if job is None:  # or another organisation's: the same answer
        raise Http404("No such capture job.")
    return job


def _errors(job: CaptureJob) -> list[dict[str, Any]]:
    return [
        {
            "number": error["index"] + 1 if isinstance(error.get("index"), int) else None,
            "event_id": error.get("eventID", ""),
            "problems": [problem_in_words(p) for p in error.get("problems", [])],
        }
        for error in job.errors
    ]


@login_required
def epcis_job_view(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(organisation_of(request), job_id)
    events = capture_job_events(job=job)
    operations = [e.operation for e in events if e.operation is not None]
    titles = {
        d.operation.id: d.title for d in operations_described(operations, lot_labels=lot_labels)
    }
    rows = []
    for event in events:
        row = _event_row(event)
        row["operation_title"] = titles.get(event.operation.id, "") if event.operation else ""
        rows.append(row)
    return render(
        request,
        "portal/epcis_job.html",
        {"job": job, "errors": _errors(job), "rows": rows},
    )


@login_required
def epcis_job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    """What the job page polls: the job's state and the operations its events became."""
    job = _job(organisation_of(request), job_id)
    operations = [e.operation for e in capture_job_events(job=job) if e.operation is not None]
    running = job.status == CaptureJob.Status.RUNNING
    return JsonResponse(
        {
            "status": job.status,
            "running": running,
            "captured": job.captured_count,
            "errors": job.error_count,
            "operations": [
                {
                    "id": str(op.id),
                    "status": op.status,
                    "final": op.is_final,
                    "url": reverse("portal:operation", args=[op.id]),
                }
                for op in operations
            ],
            "final": not running and all(op.is_final for op in operations),
        }
    )


def _certificates(event: EpcisEvent) -> tuple[list[dict[str, Any]], list[str]]:
    """Our certificates the event is linked to (with their state now), and the other
    certificate URIs its certificationInfo gives."""
    ids = [int(i) for i in event.certificate_ids or []]
    found = {int(c.certificate_id): c for c in certificate_list().filter(certificate_id__in=ids)}
    now = timezone.now()
    ours = [
        {
            "id": i,
            "type": certificate_type_name(found[i].certificate_type) if i in found else "",
            "status": certificate_status(found[i], now) if i in found else "unknown",
        }
        for i in ids
    ]
    info = event.document.get("certificationInfo")
    uris = [info] if isinstance(info, str) else info if isinstance(info, list) else []
    return ours, [u for u in uris if isinstance(u, str)]


def _decimal(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = format(value.normalize(), "f")
    return text


def _reading(reading: SensorReading) -> dict[str, Any]:
    return {
        "reading": reading,
        "lot_id": int(reading.lot_id),
        "numbers": [
            _decimal(reading.value),
            _decimal(reading.min_value),
            _decimal(reading.max_value),
            _decimal(reading.mean_value),
        ],
    }


@login_required
def epcis_event_view(request: HttpRequest, digest: str) -> HttpResponse:
    organisation = organisation_of(request)
    visible = events_visible_to(organisation=organisation)
    event = (
        visible.filter(event_hash=f"ni:///sha-256;{digest}?ver=CBV2.0")
        .select_related("operation", "capture_job")
        .first()
        if _DIGEST.match(digest)
        else None
    )
    if event is None:  # or not visible to this organisation: the same answer
        raise Http404("No such EPCIS event.")
    # A linked event shows as a link only to an organisation that may see it.
    linked = [
        *event.corrections.exclude(corrective=None).values_list("corrective", flat=True),
        *event.corrects.values_list("erroneous", flat=True),
    ]
    seen = set(visible.filter(id__in=linked).values_list("id", flat=True))
    corrections = [
        {
            "event_id": c.corrective_event_id,
            "digest": event_digest(c.corrective)
            if c.corrective is not None and c.corrective_id in seen
            else "",
            "captured": c.corrective_id is not None,
        }
        for c in event.corrections.select_related("corrective").order_by("id")
    ]
    corrects = [
        {
            "event_id": c.erroneous.event_id or c.erroneous.event_hash,
            "digest": event_digest(c.erroneous),
        }
        for c in event.corrects.select_related("erroneous").order_by("id")
        if c.erroneous_id in seen
    ]
    ours, uris = _certificates(event)
    own = event.organisation_id == organisation.pk
    return render(
        request,
        "portal/epcis_event.html",
        {
            "row": _event_row(event),
            "declaration": event.error_declaration,
            "corrections": corrections,
            "corrects": corrects,
            "certificates": ours,
            "certification_uris": uris,
            "readings": [_reading(r) for r in sensor_readings_of_event(epcis_event_id=event.pk)],
            "job": event.capture_job if own else None,
        },
    )
