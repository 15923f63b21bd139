"""What every API view shares: the Idempotency-Key, the 202 answer with the operation it
queued, and the shapes more than one resource returns.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from webapp.api.fields import id_field, printable_ascii, quantity_field
from webapp.api.problems import IdempotencyKeyMissing
from webapp.api.schema import IDEMPOTENCY as IDEMPOTENCY
from webapp.limits import MAX_IDEMPOTENCY_KEY_LENGTH
from webapp.operations.models import Operation
from webapp.operations.selectors import operation_reason_for_user
from webapp.organisations.models import Organisation


class OperationOutput(serializers.ModelSerializer[Operation]):
    url = serializers.SerializerMethodField()
    organisation: serializers.SlugRelatedField[Organisation] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    lot_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Operation
        fields = [
            "id",
            "url",
            "organisation",
            "action",
            "status",
            "request",
            "lot_id",
            "sender",
            "transaction_hash",
            "nonce",
            "error",
            "waiting_reason",
            "mined_block",
            "confirmed_block",
            "created_at",
            "updated_at",
        ]

    def get_url(self, operation: Operation) -> str:
        return reverse("api:operation", args=[operation.id], request=self.context.get("request"))

    def to_representation(self, operation: Operation) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(operation)
        for reason in ("error", "waiting_reason"):  # no server paths or key-store detail
            data[reason] = operation_reason_for_user(data[reason] or "")
        return data


class WriteView(APIView):
    """A write: needs an Idempotency-Key, answers 202 with the queued operation."""

    def idempotency_key(self, request: Request) -> str:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise IdempotencyKeyMissing()
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not printable_ascii(key):
            raise serializers.ValidationError(
                {
                    "Idempotency-Key": [
                        f"At most {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters."
                    ]
                }
            )
        return key

    def accepted(self, request: Request, operation: Operation) -> Response:
        body = OperationOutput(operation, context={"request": request}).data
        return Response(body, status=202, headers={"Location": body["url"]})

    def parse(self, serializer_class: type[serializers.Serializer[Any]], request: Request) -> Any:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ItemInput(serializers.Serializer[Any]):
    lot_id = id_field()
    quantity = quantity_field()


def handoff_json(h: Any, names: dict[str, str]) -> dict[str, Any]:
    return {
        "handoff_id": int(h.handoff_id),
        "lot_id": int(h.lot_id),
        "quantity": int(h.quantity),
        "sender": h.sender,
        "sender_name": names.get(h.sender, ""),
        "receiver": h.receiver,
        "receiver_name": names.get(h.receiver, ""),
        "status": h.status,
        "reason": h.reason,
    }


def query_choice(request: Request, name: str, choices: list[str]) -> str:
    """A query parameter with a fixed set of values: "" when absent, refused when it names
    none of them (an unknown filter would otherwise read as "no filter" or "nothing")."""
    value = request.query_params.get(name)
    if value is None:
        return ""
    if value not in choices:
        raise serializers.ValidationError({name: [f"Give one of: {', '.join(choices)}."]})
    return value


def person(request: Request) -> Any:
    """The logged-in person behind a request (None for an API token)."""
    user = request.user
    return user if getattr(user, "pk", None) and user.is_authenticated else None
