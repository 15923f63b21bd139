"""Documents: upload one, download one this organisation may read."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.problems import problem
from webapp.api.renderers import FileAnswerRenderer
from webapp.api.schema import problems
from webapp.documents.models import Document
from webapp.documents.services import DocumentAltered, document_read, document_upload
from webapp.lots.document_access import document_for_reader


class DocumentOutput(serializers.ModelSerializer[Document]):
    hash = serializers.CharField(source="hash_hex")

    class Meta:
        model = Document
        fields = ["hash", "name", "content_type", "size", "uploaded_at"]


class DocumentUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "DocumentUpload", {"file": serializers.FileField()}
            )
        },
        responses={201: DocumentOutput, **problems(400, 401, 403, 406, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": ["Attach the document as `file`."]})
        document = document_upload(
            organisation=acting_organisation(request),
            name=upload.name or "document",
            content=upload,
            content_type=upload.content_type or "",
        )
        return Response(DocumentOutput(document).data, status=201)


class DocumentBytesRenderer(FileAnswerRenderer):
    """The download as `application/octet-stream`."""

    media_type = "application/octet-stream"
    format = "bin"


class DocumentDownloadApi(APIView):
    renderer_classes = [JSONRenderer, DocumentBytesRenderer]

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **problems(400, 401, 403, 404, 406, 409, 429),
        }
    )
    def get(self, request: Request, sha256: str) -> Any:
        document = document_for_reader(sha256=sha256, organisation=acting_organisation(request))
        if document is None:  # or not one this organisation may read: the same answer
            raise Http404("No document with that hash.")
        try:
            content = document_read(document=document)
        except DocumentAltered as exc:
            return problem(409, "The stored document does not match its hash", str(exc))
        return FileResponse(
            iter([content]),
            content_type=document.content_type,
            as_attachment=True,
            filename=document.name,
        )
