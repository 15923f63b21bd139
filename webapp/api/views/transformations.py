"""Transformations: consume input lots, register the outputs made from them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from contracts.chain.domain import LotKind
from webapp.api.authentication import acting_organisation
from webapp.api.fields import ClaimsInput, quantity_field
from webapp.api.schema import write_responses
from webapp.api.views.common import IDEMPOTENCY, ItemInput, OperationOutput, WriteView
from webapp.limits import (
    MAX_NAME_LENGTH,
    MAX_PROCESS_LENGTH,
    MAX_TRANSFORMATION_INPUTS,
    MAX_TRANSFORMATION_OUTPUTS,
    MAX_UNIT_LENGTH,
)
from webapp.lots.services import Claims, Output, transformation_record


class TransformationApi(WriteView):
    class OutputInput(serializers.Serializer[Any]):
        class Meta:
            ref_name = "TransformationOutputInput"

        name = serializers.CharField(max_length=MAX_NAME_LENGTH)
        quantity = quantity_field()
        unit = serializers.CharField(max_length=MAX_UNIT_LENGTH)
        kind = serializers.ChoiceField(
            choices=["raw_material", "component", "product"], default="product"
        )
        claims = ClaimsInput(required=False)

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "TransformationInput"

        process = serializers.CharField(max_length=MAX_PROCESS_LENGTH)
        inputs = ItemInput(many=True, allow_empty=False, max_length=MAX_TRANSFORMATION_INPUTS)  # type: ignore[call-arg]
        outputs = serializers.ListField(
            child=serializers.DictField(), allow_empty=False, max_length=MAX_TRANSFORMATION_OUTPUTS
        )

    @extend_schema(
        request=inline_serializer(
            "TransformationInput",
            {
                "process": serializers.CharField(max_length=MAX_PROCESS_LENGTH),
                "inputs": ItemInput(many=True, max_length=MAX_TRANSFORMATION_INPUTS),  # type: ignore[call-arg]
                "outputs": OutputInput(many=True, max_length=MAX_TRANSFORMATION_OUTPUTS),  # type: ignore[call-arg]
            },
        ),
        responses=write_responses(OperationOutput),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        outputs = []
        for i, raw in enumerate(data["outputs"]):
            out = self.OutputInput(data=raw)
            if not out.is_valid():
                raise serializers.ValidationError({f"outputs[{i}]": out.errors})
            v = out.validated_data
            outputs.append(
                Output(
                    name=v["name"],
                    quantity=v["quantity"],
                    unit=v["unit"],
                    kind=LotKind[v["kind"].upper()],
                    claims=Claims(**(v.get("claims") or {})),
                )
            )
        operation = transformation_record(
            organisation=acting_organisation(request),
            inputs=[(i["lot_id"], i["quantity"]) for i in data["inputs"]],
            outputs=outputs,
            process=data["process"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)
