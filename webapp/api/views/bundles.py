"""Bundles: pack lots into one, unpack one."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.fields import gs1_digits_field
from webapp.api.schema import write_responses
from webapp.api.views.common import IDEMPOTENCY, ItemInput, OperationOutput, WriteView
from webapp.limits import MAX_BUNDLE_ITEMS, MAX_NAME_LENGTH
from webapp.lots.services import bundle_create, bundle_unpack


class BundleCreateApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "BundleCreateInput"

        name = serializers.CharField(max_length=MAX_NAME_LENGTH)
        sscc = gs1_digits_field(18)
        items = ItemInput(many=True, allow_empty=False, max_length=MAX_BUNDLE_ITEMS)  # type: ignore[call-arg]

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        operation = bundle_create(
            organisation=acting_organisation(request),
            items=[(i["lot_id"], i["quantity"]) for i in data["items"]],
            name=data["name"],
            sscc=data["sscc"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


class BundleUnpackApi(WriteView):
    @extend_schema(
        request=None,
        responses=write_responses(OperationOutput, by_id=True, body=False),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, bundle_id: int) -> Response:
        operation = bundle_unpack(
            organisation=acting_organisation(request),
            bundle_id=bundle_id,
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)
