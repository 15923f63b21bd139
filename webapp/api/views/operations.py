"""Operations: follow what a write queued, up to its confirmation or failure."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.schema import read_responses
from webapp.api.views.common import OperationOutput, query_choice
from webapp.operations.models import Operation
from webapp.operations.selectors import operation_list

STATUSES = [s.value for s in Operation.Status]


class OperationListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = OperationOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=STATUSES),
            OpenApiParameter("action", str),
        ],
        responses=read_responses(OperationOutput(many=True)),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return operation_list(
            organisation=acting_organisation(self.request),
            status=query_choice(self.request, "status", STATUSES),
            action=self.request.query_params.get("action", ""),
        )


class OperationDetailApi(generics.RetrieveAPIView):  # type: ignore[type-arg]
    serializer_class = OperationOutput
    lookup_url_kwarg = "operation_id"

    @extend_schema(responses=read_responses(OperationOutput))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return operation_list(organisation=acting_organisation(self.request))
