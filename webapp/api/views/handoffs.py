"""Custody handoffs: list them, start one, and the receiver's or sender's answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.fields import id_field, quantity_field
from webapp.api.schema import read_responses, write_responses
from webapp.api.views.common import IDEMPOTENCY, OperationOutput, WriteView, query_choice
from webapp.limits import MAX_REASON_LENGTH
from webapp.lots import selectors
from webapp.lots.services import handoff_accept, handoff_cancel, handoff_initiate, handoff_reject
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_by_slug

DIRECTIONS = ["incoming", "outgoing"]
HANDOFF_STATUSES = ["open", "accepted", "rejected", "cancelled"]


def _organisation(slug: str) -> Organisation | None:
    return organisation_by_slug(slug=slug)


class HandoffOutput(serializers.Serializer[Any]):
    handoff_id = serializers.IntegerField()
    lot_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    sender = serializers.CharField()
    receiver = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()


class HandoffListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = HandoffOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=DIRECTIONS),
            OpenApiParameter("status", str, enum=HANDOFF_STATUSES),
        ],
        responses=read_responses(HandoffOutput(many=True)),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return selectors.handoff_list(
            organisation=acting_organisation(self.request),
            direction=query_choice(self.request, "direction", DIRECTIONS),
            status=query_choice(self.request, "status", HANDOFF_STATUSES),
        )


class HandoffInitiateApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "HandoffInitiateInput"

        lot_id = id_field()
        receiver = serializers.SlugField(
            max_length=50, help_text="the receiving organisation's slug"
        )
        quantity = quantity_field()

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        receiver = _organisation(data["receiver"])
        if receiver is None:
            raise serializers.ValidationError(
                {"receiver": [f"No organisation {data['receiver']!r} on the chain."]}
            )
        operation = handoff_initiate(
            organisation=acting_organisation(request),
            lot_id=data["lot_id"],
            receiver=receiver,
            quantity=data["quantity"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


class HandoffAcceptApi(WriteView):
    """The receiver accepts an open handoff: custody (and the escrowed quantity) moves."""

    @extend_schema(
        request=None,
        responses=write_responses(OperationOutput, by_id=True),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, handoff_id: int) -> Response:
        operation = handoff_accept(
            organisation=acting_organisation(request),
            handoff_id=handoff_id,
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


class HandoffRejectApi(WriteView):
    """The receiver rejects an open handoff, with a reason; the quantity goes back."""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "HandoffRejectInput"

        reason = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=MAX_REASON_LENGTH
        )

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput, by_id=True),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, handoff_id: int) -> Response:
        data = self.parse(self.InputSerializer, request)
        operation = handoff_reject(
            organisation=acting_organisation(request),
            handoff_id=handoff_id,
            reason=data["reason"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


class HandoffCancelApi(WriteView):
    """The sender cancels an open handoff; the quantity goes back."""

    @extend_schema(
        request=None,
        responses=write_responses(OperationOutput, by_id=True),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, handoff_id: int) -> Response:
        operation = handoff_cancel(
            organisation=acting_organisation(request),
            handoff_id=handoff_id,
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)
