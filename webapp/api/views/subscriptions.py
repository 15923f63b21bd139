"""Event subscriptions: an organisation's systems receive the chain's facts it may see, as
webhooks signed per Standard Webhooks or read live (transport `websocket`: over WebSocket
or Server-Sent Events from `webapp.streams.asgi`), from a start it chooses, and can pause,
resume, rewind, (webhooks) rotate the signing secret, read the delivery log and replay
dead letters.

The signing secret is in the answer to the create and to a rotation only. An organisation
sees only its own subscriptions: another's id answers 404, as an unknown one does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from webapp.api.authentication import acting_organisation
from webapp.api.fields import id_field
from webapp.api.schema import IDEMPOTENCY, problems, read_responses
from webapp.api.views.common import WriteView
from webapp.streams.asymmetric import public_key_of
from webapp.streams.models import DeliveryAttempt, Message, Subscription
from webapp.streams.selectors import (
    dead_letters,
    event_types_known,
    subscription_of,
    subscriptions_of,
)
from webapp.streams.services import (
    MAX_BATCH_SIZE,
    MAX_BATCH_TIMEOUT_S,
    MAX_CONFIRMATIONS,
    Start,
    dead_letter_replay,
    secret_rotate,
    subscription_create,
    subscription_delete,
    subscription_pause,
    subscription_resume,
    subscription_rewind,
    subscription_send_test,
    subscription_update,
)

MAX_LOTS = 100
MAX_OVERLAP_S = 7 * 86400
STARTS = ["oldest", "newest", "sequence", "block", "time"]


def write_ok(ok: Any, *, by_id: bool = True, body: bool = True, status: int = 200) -> Any:
    statuses = [400, 401, 403] + ([404] if by_id else []) + [406]
    statuses += [413, 415] if body else []
    return {status: ok, **problems(*statuses, 422, 429)}


class SubscriptionOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.URLField(help_text="this subscription in the API")
    name = serializers.CharField()
    transport = serializers.CharField(help_text="webhook or websocket (live)")
    destination = serializers.CharField(help_text="where the webhooks go (empty when live)")
    event_types = serializers.ListField(child=serializers.CharField())
    lot_ids = serializers.ListField(child=serializers.CharField())
    own_only = serializers.BooleanField()
    batch_size = serializers.IntegerField()
    batch_timeout_s = serializers.IntegerField()
    confirmations = serializers.IntegerField()
    ordered = serializers.BooleanField()
    format = serializers.CharField(help_text="rest, epcis or both: what a payload carries")
    state = serializers.CharField(help_text="active, paused or disabled")
    disabled_reason = serializers.CharField()
    public_key = serializers.CharField(
        help_text="whpk_ Ed25519 public key the v1a signatures verify with (empty: v1 only)"
    )
    start = serializers.CharField()
    checkpoint = serializers.IntegerField(help_text="last sequence delivered or skipped")
    pending = serializers.IntegerField(help_text="messages formed, not yet delivered")
    dead_letters = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class CreatedOutput(SubscriptionOutput):
    secret = serializers.CharField(
        allow_null=True, help_text="the signing secret: shown this once (a webhook's)"
    )


class SecretOutput(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="the new signing secret: shown this once")
    previous_expires_at = serializers.DateTimeField(allow_null=True)


class AttemptOutput(serializers.ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "message_id",
            "kind",
            "first_sequence",
            "last_sequence",
            "attempt",
            "status",
            "response_code",
            "duration_ms",
            "error",
            "next_attempt_at",
            "attempted_at",
        ]


class DeadLetterOutput(serializers.ModelSerializer[Message]):
    class Meta:
        model = Message
        fields = [
            "id",
            "message_id",
            "kind",
            "first_sequence",
            "last_sequence",
            "attempts",
            "last_error",
            "created_at",
        ]


class CountOutput(serializers.Serializer[Any]):
    queued = serializers.IntegerField()


def subscription_json(request: Request, subscription: Subscription) -> dict[str, Any]:
    body = {
        "id": subscription.pk,
        "url": reverse("api:subscription", args=[subscription.pk], request=request),
        "name": subscription.name,
        "transport": subscription.transport,
        "destination": subscription.url,
        "event_types": subscription.event_types,
        "lot_ids": [str(i) for i in subscription.lot_ids],
        "own_only": subscription.own_only,
        "batch_size": subscription.batch_size,
        "batch_timeout_s": subscription.batch_timeout_s,
        "confirmations": subscription.confirmations,
        "ordered": subscription.ordered,
        "format": subscription.format,
        "state": subscription.state,
        "disabled_reason": subscription.disabled_reason,
        "public_key": public_key_of(subscription=subscription),
        "start": subscription.start,
        "checkpoint": subscription.checkpoint,
        "pending": subscription.messages.filter(status=Message.Status.PENDING).count(),
        "dead_letters": dead_letters(subscription=subscription).count(),
        "created_at": subscription.created_at,
    }
    data: dict[str, Any] = SubscriptionOutput(body).data
    return data


def _subscription(request: Request, subscription_id: UUID) -> Subscription:
    found = subscription_of(
        organisation=acting_organisation(request), subscription_id=subscription_id
    )
    if found is None:  # or another organisation's: the same answer
        raise Http404("No such subscription.")
    return found


class FilterInput(serializers.Serializer[Any]):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=64,
        required=False,
        help_text="event types wanted (none: every chain fact); alert.raised and"
        " alert.cleared only when named",
    )
    lot_ids = serializers.ListField(
        child=id_field(),
        max_length=MAX_LOTS,
        required=False,
        help_text="lots or bundles wanted, with every lot made from or packed with them",
    )
    own_only = serializers.BooleanField(required=False, help_text="only facts naming us")
    batch_size = serializers.IntegerField(min_value=1, max_value=MAX_BATCH_SIZE, required=False)
    batch_timeout_s = serializers.IntegerField(
        min_value=0, max_value=MAX_BATCH_TIMEOUT_S, required=False
    )
    confirmations = serializers.IntegerField(
        min_value=0, max_value=MAX_CONFIRMATIONS, required=False
    )
    ordered = serializers.BooleanField(required=False)
    format = serializers.ChoiceField(
        choices=Subscription.Format.values,
        required=False,
        help_text="rest: the fact's arguments (`fact`); epcis: its EPCIS 2.0 event (`epcis`)"
        " instead; both",
    )
    ed25519 = serializers.BooleanField(
        required=False,
        help_text="sign with an Ed25519 key too (a v1a signature beside the v1 ones)",
    )

    def validate_event_types(self, value: list[str]) -> list[str]:
        known = set(event_types_known())
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"Unknown event types: {', '.join(unknown)}.")
        return sorted(set(value))

    def validate_lot_ids(self, value: list[int]) -> list[int]:
        return sorted(set(value))


def _start(data: dict[str, Any], kind_field: str) -> Start:
    kind = data[kind_field]
    needs = {"sequence": "sequence", "block": "block", "time": "time"}.get(kind)
    if needs and data.get(needs) is None:
        raise serializers.ValidationError({needs: [f"Give the {needs} to start from."]})
    return Start(
        kind=kind, sequence=data.get("sequence"), block=data.get("block"), at=data.get("time")
    )


FILTERS = ("event_types", "lot_ids", "own_only")
OPTIONS = ("batch_size", "batch_timeout_s", "confirmations", "ordered", "format")


class SubscriptionListApi(generics.ListAPIView, WriteView):  # type: ignore[type-arg]
    class InputSerializer(FilterInput):
        class Meta:
            ref_name = "SubscriptionInput"

        name = serializers.CharField(max_length=100)
        transport = serializers.ChoiceField(
            choices=[Subscription.Transport.WEBHOOK, Subscription.Transport.WEBSOCKET],
            default=Subscription.Transport.WEBHOOK,
            help_text="webhook: POSTed to `url`; websocket: read over WebSocket or"
            " Server-Sent Events (no url, no secret)",
        )
        url = serializers.URLField(
            max_length=2000, required=False, help_text="https:// only; a webhook's, required"
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["transport"] == Subscription.Transport.WEBHOOK and not attrs.get("url"):
                raise serializers.ValidationError({"url": ["A webhook needs its URL."]})
            return attrs

        start = serializers.ChoiceField(
            choices=STARTS, default="newest", help_text="where the stream starts"
        )
        sequence = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
        block = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False)
        time = serializers.DateTimeField(required=False)

    def get_queryset(self) -> QuerySet[Subscription]:
        return subscriptions_of(organisation=acting_organisation(self.request))

    @extend_schema(responses=read_responses(SubscriptionOutput(many=True)))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = [subscription_json(request, s) for s in page or []]
        return self.get_paginated_response(rows)

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY],
        responses=write_ok(CreatedOutput, by_id=False, status=201),
    )
    def post(self, request: Request) -> Response:
        key = self.idempotency_key(request)
        data = self.parse(self.InputSerializer, request)
        created = subscription_create(
            organisation=acting_organisation(request),
            name=data["name"],
            url=data.get("url", ""),
            start=_start(data, "start"),
            filters={k: data[k] for k in FILTERS if k in data},
            options={k: data[k] for k in OPTIONS if k in data},
            idempotency_key=key,
            ed25519=data.get("ed25519", False),
            transport=data["transport"],
        )
        body = {
            **subscription_json(request, created.subscription),
            "secret": created.secret or None,
        }
        return Response(body, status=201, headers={"Location": body["url"]})


class SubscriptionDetailApi(WriteView):
    class PatchSerializer(FilterInput):
        class Meta:
            ref_name = "SubscriptionChange"

        name = serializers.CharField(max_length=100, required=False)
        url = serializers.URLField(max_length=2000, required=False)

    @extend_schema(responses=read_responses(SubscriptionOutput))
    def get(self, request: Request, subscription_id: UUID) -> Response:
        return Response(subscription_json(request, _subscription(request, subscription_id)))

    @extend_schema(request=PatchSerializer, responses=write_ok(SubscriptionOutput))
    def patch(self, request: Request, subscription_id: UUID) -> Response:
        subscription = _subscription(request, subscription_id)
        data = self.parse(self.PatchSerializer, request)
        changed = subscription_update(subscription=subscription, changes=dict(data))
        return Response(subscription_json(request, changed))

    @extend_schema(responses={204: None, **problems(400, 401, 403, 404, 406, 429)})
    def delete(self, request: Request, subscription_id: UUID) -> Response:
        subscription_delete(subscription=_subscription(request, subscription_id))
        return Response(status=204)


class _Action(WriteView):
    """A POST on one subscription: the Idempotency-Key is required as on every write."""

    def subscription(self, request: Request, subscription_id: UUID) -> Subscription:
        self.idempotency_key(request)
        return _subscription(request, subscription_id)


class SubscriptionPauseApi(_Action):
    @extend_schema(
        request=None, parameters=[IDEMPOTENCY], responses=write_ok(SubscriptionOutput, body=False)
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        paused = subscription_pause(subscription=self.subscription(request, subscription_id))
        return Response(subscription_json(request, paused))


class SubscriptionResumeApi(_Action):
    @extend_schema(
        request=None, parameters=[IDEMPOTENCY], responses=write_ok(SubscriptionOutput, body=False)
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        resumed = subscription_resume(subscription=self.subscription(request, subscription_id))
        return Response(subscription_json(request, resumed))


class SubscriptionRewindApi(_Action):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "SubscriptionRewind"

        to = serializers.ChoiceField(choices=["oldest", "sequence", "block", "time"])
        sequence = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
        block = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False)
        time = serializers.DateTimeField(required=False)

    @extend_schema(
        request=InputSerializer, parameters=[IDEMPOTENCY], responses=write_ok(SubscriptionOutput)
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        subscription = self.subscription(request, subscription_id)
        data = self.parse(self.InputSerializer, request)
        rewound = subscription_rewind(subscription=subscription, to=_start(data, "to"))
        return Response(subscription_json(request, rewound))


class SecretRotateApi(_Action):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "SecretRotate"

        overlap_s = serializers.IntegerField(
            min_value=0,
            max_value=MAX_OVERLAP_S,
            required=False,
            help_text="how long the previous secret keeps signing (default: a day)",
        )

    @extend_schema(
        request=InputSerializer, parameters=[IDEMPOTENCY], responses=write_ok(SecretOutput)
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        subscription = self.subscription(request, subscription_id)
        data = self.parse(self.InputSerializer, request)
        overlap = data.get("overlap_s")
        secret = secret_rotate(
            subscription=subscription,
            overlap=None if overlap is None else timedelta(seconds=overlap),
        )
        previous = subscription.secrets.exclude(secret=secret).order_by("-created_at").first()
        body = {"secret": secret, "previous_expires_at": previous.expires_at if previous else None}
        return Response(SecretOutput(body).data)


class SubscriptionTestApi(_Action):
    @extend_schema(
        request=None, parameters=[IDEMPOTENCY], responses=write_ok(AttemptOutput, body=False)
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        attempt = subscription_send_test(subscription=self.subscription(request, subscription_id))
        return Response(AttemptOutput(attempt).data)


class DeliveryListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = AttemptOutput

    def get_queryset(self) -> QuerySet[DeliveryAttempt]:
        subscription = _subscription(self.request, self.kwargs["subscription_id"])
        return subscription.attempts.order_by("-id")

    @extend_schema(responses=read_responses(AttemptOutput(many=True)))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DeadLetterListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = DeadLetterOutput

    def get_queryset(self) -> QuerySet[Message]:
        subscription = _subscription(self.request, self.kwargs["subscription_id"])
        return dead_letters(subscription=subscription).order_by("id")

    @extend_schema(responses=read_responses(DeadLetterOutput(many=True)))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DeadLetterReplayAllApi(_Action):
    @extend_schema(
        operation_id="api_v1_subscriptions_dead_letters_replay_all",
        request=None,
        parameters=[IDEMPOTENCY],
        responses=write_ok(CountOutput, body=False),
    )
    def post(self, request: Request, subscription_id: UUID) -> Response:
        subscription = self.subscription(request, subscription_id)
        queued = dead_letter_replay(subscription=subscription)
        return Response(CountOutput({"queued": queued}).data)


class DeadLetterReplayApi(_Action):
    @extend_schema(
        request=None, parameters=[IDEMPOTENCY], responses=write_ok(CountOutput, body=False)
    )
    def post(self, request: Request, subscription_id: UUID, message_pk: int) -> Response:
        subscription = self.subscription(request, subscription_id)
        queued = dead_letter_replay(subscription=subscription, message_pk=message_pk)
        if not queued:
            raise Http404("No such dead letter.")
        return Response(CountOutput({"queued": queued}).data)
