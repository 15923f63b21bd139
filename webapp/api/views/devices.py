"""Devices: an organisation's sensors (register with a public key, attach to lots, bundles or
a handoff, revoke), and the HTTPS gateway for readings from gateways that cannot speak MQTT.

The MQTT password is in the answer to the registration only. An organisation sees only its
own devices: another's id answers 404, as an unknown one does. A refused request answers
400 with the reason and changes nothing.
"""

from __future__ import annotations

from typing import Any

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
from webapp.monitoring.devices import (
    MAX_ATTACHED,
    DeviceError,
    device_attach,
    device_of,
    device_register,
    device_revoke,
    devices_of,
    mqtt_topic,
)
from webapp.monitoring.ingest import Incoming, readings_ingest_isolated
from webapp.monitoring.models import Device
from webapp.monitoring.payload import REASONS

MAX_READINGS = 1000


def _ok(ok: Any, *, by_id: bool = True, body: bool = True, status: int = 200) -> Any:
    statuses = [400, 401, 403] + ([404] if by_id else []) + [406]
    statuses += [413, 415] if body else []
    return {status: ok, **problems(*statuses, 422, 429)}


class DeviceOutput(serializers.Serializer[Any]):
    device_id = serializers.CharField()
    url = serializers.URLField()
    key_type = serializers.CharField()
    public_key = serializers.CharField()
    lot_ids = serializers.ListField(child=serializers.CharField())
    bundle_ids = serializers.ListField(child=serializers.CharField())
    handoff_id = serializers.CharField(allow_null=True)
    state = serializers.CharField(help_text="active or revoked")
    topic = serializers.CharField(help_text="the MQTT topic it publishes to")
    last_seq = serializers.IntegerField()
    last_reading_at = serializers.DateTimeField(allow_null=True)
    accepted = serializers.IntegerField()
    rejected = serializers.DictField(child=serializers.IntegerField(), help_text="per reason")
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class RegisteredOutput(DeviceOutput):
    mqtt_username = serializers.CharField()
    mqtt_password = serializers.CharField(help_text="shown this once")


class OutcomeOutput(serializers.Serializer[Any]):
    device = serializers.CharField()
    seq = serializers.IntegerField(allow_null=True)
    accepted = serializers.BooleanField()
    reason = serializers.CharField(help_text="why it was refused (a code); blank if accepted")
    message = serializers.CharField()


class ResultsOutput(serializers.Serializer[Any]):
    results = OutcomeOutput(many=True)


def device_json(request: Request, device: Device) -> dict[str, Any]:
    body = {
        "device_id": device.device_id,
        "url": reverse("api:device", args=[device.device_id], request=request),
        "key_type": device.key_type,
        "public_key": device.public_key,
        "lot_ids": device.lot_ids,
        "bundle_ids": device.bundle_ids,
        "handoff_id": None if device.handoff_id is None else str(device.handoff_id),
        "state": device.state,
        "topic": mqtt_topic(device),
        "last_seq": device.last_seq,
        "last_reading_at": device.last_reading_at,
        "accepted": device.accepted_count,
        "rejected": device.rejected,
        "created_at": device.created_at,
        "revoked_at": device.revoked_at,
    }
    data: dict[str, Any] = DeviceOutput(body).data
    return data


def _device(request: Request, device_id: str) -> Device:
    found = device_of(organisation=acting_organisation(request), device_id=device_id)
    if found is None:  # or another organisation's: the same answer
        raise Http404("No such device.")
    return found


def _refused(error: DeviceError) -> serializers.ValidationError:
    return serializers.ValidationError({"detail": [str(error)]})


class AttachInput(serializers.Serializer[Any]):
    lot_ids = serializers.ListField(child=id_field(), max_length=MAX_ATTACHED, required=False)
    bundle_ids = serializers.ListField(child=id_field(), max_length=MAX_ATTACHED, required=False)
    handoff_id = id_field(required=False, allow_null=True)


class DeviceListApi(generics.ListAPIView, WriteView):  # type: ignore[type-arg]
    class InputSerializer(AttachInput):
        class Meta:
            ref_name = "DeviceInput"

        device_id = serializers.CharField(max_length=64)
        key_type = serializers.ChoiceField(choices=Device.KeyType.values)
        public_key = serializers.CharField(max_length=4000, help_text="PEM, or raw in base64/hex")

    def get_queryset(self) -> Any:
        return devices_of(organisation=acting_organisation(self.request))

    @extend_schema(responses=read_responses(DeviceOutput(many=True)))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset().select_related("organisation"))
        return self.get_paginated_response([device_json(request, d) for d in page or []])

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY],
        responses=_ok(RegisteredOutput, by_id=False, status=201),
    )
    def post(self, request: Request) -> Response:
        # a retried registration is refused as a device id already taken: nothing doubles
        self.idempotency_key(request)
        data = self.parse(self.InputSerializer, request)
        try:
            registered = device_register(
                organisation=acting_organisation(request),
                device_id=data["device_id"],
                key_type=data["key_type"],
                public_key=data["public_key"],
                lot_ids=data.get("lot_ids", []),
                bundle_ids=data.get("bundle_ids", []),
                handoff_id=data.get("handoff_id"),
            )
        except DeviceError as error:
            raise _refused(error) from None
        body = {
            **device_json(request, registered.device),
            "mqtt_username": registered.mqtt_username,
            "mqtt_password": registered.mqtt_password,
        }
        return Response(body, status=201, headers={"Location": body["url"]})


class DeviceDetailApi(WriteView):
    @extend_schema(responses=read_responses(DeviceOutput))
    def get(self, request: Request, device_id: str) -> Response:
        return Response(device_json(request, _device(request, device_id)))


class DeviceAttachApi(WriteView):
    @extend_schema(request=AttachInput, parameters=[IDEMPOTENCY], responses=_ok(DeviceOutput))
    def post(self, request: Request, device_id: str) -> Response:
        self.idempotency_key(request)  # attaching twice to the same ends the same
        device = _device(request, device_id)
        data = self.parse(AttachInput, request)
        try:
            attached = device_attach(
                device=device,
                lot_ids=data.get("lot_ids", []),
                bundle_ids=data.get("bundle_ids", []),
                handoff_id=data.get("handoff_id"),
            )
        except DeviceError as error:
            raise _refused(error) from None
        return Response(device_json(request, attached))


class DeviceRevokeApi(WriteView):
    @extend_schema(request=None, parameters=[IDEMPOTENCY], responses=_ok(DeviceOutput, body=False))
    def post(self, request: Request, device_id: str) -> Response:
        self.idempotency_key(request)  # revoking is final: a retry changes nothing
        revoked = device_revoke(device=_device(request, device_id))
        return Response(device_json(request, revoked))


class ReadingsApi(WriteView):
    """Signed readings from a gateway: each answered accepted or refused with its reason."""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "DeviceReadings"

        readings = serializers.ListField(
            child=serializers.DictField(),
            min_length=1,
            max_length=MAX_READINGS,
            help_text="signed payloads (see the device payload format)",
        )

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY],
        responses=_ok(ResultsOutput, by_id=False),
        operation_id="api_v1_devices_readings_create",
    )
    def post(self, request: Request) -> Response:
        self.idempotency_key(request)  # a retried batch: its readings answer "duplicate"
        data = self.parse(self.InputSerializer, request)
        slug = acting_organisation(request).slug
        outcomes = readings_ingest_isolated(
            [Incoming(raw=r, organisation=slug) for r in data["readings"]]
        )
        body = [
            {
                "device": o.device,
                "seq": o.seq,
                "accepted": o.accepted,
                "reason": o.reason,
                "message": REASONS.get(o.reason, "accepted"),
            }
            for o in outcomes
        ]
        return Response({"results": body})
