"""The portal's import pages: the list, the upload, a job's check and progress (polled),
its result file and the templates. Reads through selectors, writes through services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.imports import selectors, services
from webapp.imports.blanks import template_csv, template_xlsx
from webapp.imports.forms import ImportForm
from webapp.imports.models import ImportJob
from webapp.imports.records import RECORD_TYPES, record_types_for
from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_of_user

#: The service's field names that are a field of the upload form (the rest: the form's).
FORM_FIELDS = {"type": "record_type", "file": "file"}
#: Rows with errors listed on a job's page (the result file has them all).
ERRORS_SHOWN = 500


def _organisation(request: HttpRequest) -> Organisation:
    organisation = organisation_of_user(request.user)
    if organisation is None:
        raise PermissionDenied("Your account does not belong to an organisation.")
    return organisation


def _job(request: HttpRequest, job_id: str) -> ImportJob:
    job = selectors.import_of(organisation=_organisation(request), job_id=job_id)
    if job is None:  # or another organisation's: the same answer
        raise Http404("No such import.")
    return job


@login_required
def import_list_view(request: HttpRequest) -> HttpResponse:
    organisation = _organisation(request)
    jobs = selectors.import_list(organisation=organisation)[:100]
    return render(
        request,
        "imports/list.html",
        {"jobs": jobs, "record_types": record_types_for(organisation)},
    )


@login_required
def import_new_view(request: HttpRequest) -> HttpResponse:
    organisation = _organisation(request)
    allowed = record_types_for(organisation)
    if not allowed:
        held = ", ".join(organisation.role_names) or "no role"
        reason = (
            "Importing records needs a role that records them (MINER or MANUFACTURER for "
            f"lots, any custodian for handoffs, CERTIFIER for certificates); "
            f"{organisation.name} holds {held}."
        )
        return render(
            request,
            "portal/forbidden.html",
            {"reason": reason, "organisation": organisation},
            status=403,
        )
    form = ImportForm(request.POST or None, request.FILES or None, record_types=allowed)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_create(
                organisation=organisation,
                record_type=form.cleaned_data["record_type"],
                file_name=upload.name or "import",
                content=upload.read(),
                user=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(FORM_FIELDS.get(field), errors)
        else:
            return redirect("portal:imports:job", job_id=job.id)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "imports/new.html",
        {"form": form, "record_types": allowed},
        status=status,
    )


@login_required
def import_job_view(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    return render(
        request,
        "imports/job.html",
        {
            "job": job,
            "record": RECORD_TYPES[job.record_type],
            "progress": selectors.import_progress(job=job),
            "errors": selectors.import_rows(job=job, errors_only=True)[:ERRORS_SHOWN],
            "errors_shown": ERRORS_SHOWN,
        },
    )


@login_required
def import_status_view(request: HttpRequest, job_id: str) -> JsonResponse:
    """What the job page polls."""
    return JsonResponse(selectors.import_progress(job=_job(request, job_id)))


@login_required
@require_POST
def import_submit_view(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    try:
        services.import_submit_request(job=job, only_valid=request.POST.get("only_valid") == "1")
    except (ValidationError, IdempotencyConflict) as exc:
        for message in getattr(exc, "messages", [str(exc)]):
            messages.error(request, message)
    return redirect("portal:imports:job", job_id=job.id)


@login_required
def import_result_view(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    response = HttpResponse(
        selectors.import_result_csv(job=job), content_type="text/csv; charset=utf-8"
    )
    name = f"import-{job.record_type}-{job.created_at:%Y%m%d-%H%M%S}-result.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def import_template_view(request: HttpRequest, record_type: str, extension: str) -> HttpResponse:
    record = RECORD_TYPES.get(record_type)
    if record is None or extension not in {"csv", "xlsx"}:
        raise Http404("No such template.")
    if extension == "csv":
        response = HttpResponse(template_csv(record), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            template_xlsx(record),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{record.slug}-template.{extension}"'
    return response
