"""Batch imports: upload a CSV or XLSX file of lots, handoffs or certificates; every row is
checked as the chain would check it (the dry run), then queued as one operation per row.

The check and the queueing run in the background: the upload answers 202 with the job,
and `GET /api/v1/imports/{id}` follows it (per-row errors, then the operations' counts up
to confirmation). Rows already imported (the same content, in this file or an earlier
one) are never queued twice.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.parsers import BoundedJSONParser
from webapp.api.renderers import FileAnswerRenderer
from webapp.api.schema import IDEMPOTENCY, problems, read_responses, write_responses
from webapp.api.views.common import WriteView, person
from webapp.imports.models import ImportJob
from webapp.imports.records import RECORD_TYPES
from webapp.imports.selectors import import_of, import_progress, import_result_csv, import_rows
from webapp.imports.services import import_create, import_submit_request

PHASES = [*ImportJob.Status.values, "done"]


class RowErrorOutput(serializers.Serializer[Any]):
    row = serializers.IntegerField(help_text="the row's number in the spreadsheet (header: 1)")
    error = serializers.CharField()


class ImportOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.URLField()
    result_url = serializers.URLField(help_text="the result file (text/csv)")
    type = serializers.ChoiceField(choices=list(RECORD_TYPES))
    file_name = serializers.CharField()
    file_sha256 = serializers.CharField()
    status = serializers.ChoiceField(choices=ImportJob.Status.values)
    phase = serializers.ChoiceField(
        choices=PHASES, help_text="the status, or `done` once every operation is final"
    )
    final = serializers.BooleanField()
    rows = serializers.IntegerField()
    checked = serializers.IntegerField()
    valid = serializers.IntegerField()
    invalid = serializers.IntegerField()
    already_imported = serializers.IntegerField()
    operations = serializers.IntegerField()
    queued = serializers.IntegerField(help_text="operations not yet confirmed nor failed")
    confirmed = serializers.IntegerField()
    failed = serializers.IntegerField()
    error = serializers.CharField(help_text="why a submission was refused as a whole")
    # The metaclass moves declared fields out of the class: `Serializer.errors` stays intact.
    errors = RowErrorOutput(many=True, help_text="the rows with errors, in plain words")  # type: ignore[assignment]
    created_at = serializers.DateTimeField()


def import_json(request: Request, job: ImportJob) -> dict[str, Any]:
    progress = import_progress(job=job)
    body = {
        **{key: progress[key] for key in ImportOutput._declared_fields if key in progress},
        "url": reverse("api:import", args=[job.id], request=request),
        "result_url": reverse("api:import-result", args=[job.id], request=request),
        "type": job.record_type,
        "file_name": job.file_name,
        "file_sha256": job.file_sha256,
        "created_at": job.created_at,
        "errors": [
            {"row": number, "error": error}
            for number, error in import_rows(job=job, errors_only=True).values_list(
                "number", "error"
            )
        ],
    }
    data: dict[str, Any] = ImportOutput(body).data
    return data


def _job(request: Request, job_id: UUID) -> ImportJob:
    job = import_of(organisation=acting_organisation(request), job_id=job_id)
    if job is None:  # or another organisation's: the same answer
        raise Http404("No such import.")
    return job


class ImportCreateApi(WriteView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ImportInput"

        type = serializers.ChoiceField(choices=list(RECORD_TYPES))
        file = serializers.FileField(
            help_text=".csv (UTF-8) or .xlsx; the first row names the columns"
        )
        dry_run = serializers.BooleanField(
            default=True, help_text="only check the rows (default); false: queue them once checked"
        )
        only_valid = serializers.BooleanField(
            default=False,
            help_text="with dry_run false: queue the valid rows even if others have errors"
            " (otherwise one invalid row refuses the whole file)",
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        parameters=[IDEMPOTENCY],
        responses=write_responses(ImportOutput),
    )
    def post(self, request: Request) -> Response:
        key = self.idempotency_key(request)
        data = self.parse(self.InputSerializer, request)
        upload = data["file"]
        job = import_create(
            organisation=acting_organisation(request),
            record_type=data["type"],
            file_name=upload.name or "import",
            content=upload.read(),
            user=person(request),
            submit=not data["dry_run"],
            only_valid=data["only_valid"],
            idempotency_key=key,
        )
        body = import_json(request, job)
        return Response(body, status=202, headers={"Location": body["url"]})


class ImportDetailApi(APIView):
    @extend_schema(responses=read_responses(ImportOutput))
    def get(self, request: Request, job_id: UUID) -> Response:
        return Response(import_json(request, _job(request, job_id)))


class ImportSubmitApi(WriteView):
    """Queue a checked import's rows. Submitting is idempotent by itself (each row's
    operation has its own key); the header is required as on every write."""

    parser_classes = [BoundedJSONParser]

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ImportSubmitInput"

        only_valid = serializers.BooleanField(
            default=False, help_text="queue the valid rows even if others have errors"
        )

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY],
        responses=write_responses(ImportOutput, by_id=True),
    )
    def post(self, request: Request, job_id: UUID) -> Response:
        self.idempotency_key(request)
        job = _job(request, job_id)
        data = self.parse(self.InputSerializer, request)
        job = import_submit_request(job=job, only_valid=data["only_valid"])
        body = import_json(request, job)
        return Response(body, status=202, headers={"Location": body["url"]})


class CsvRenderer(FileAnswerRenderer):
    """The result as `text/csv`."""

    media_type = "text/csv"
    format = "csv"


class ImportResultApi(APIView):
    renderer_classes = [CsvRenderer, JSONRenderer]

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **problems(400, 401, 403, 404, 406, 429),
        }
    )
    def get(self, request: Request, job_id: UUID) -> HttpResponse:
        job = _job(request, job_id)
        response = HttpResponse(import_result_csv(job=job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.id}-result.csv"'
        return response
