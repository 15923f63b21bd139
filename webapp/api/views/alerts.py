"""Condition monitoring: the rules an organisation watches its lots with, and the alerts
they raise. An organisation sees only its own: another's id answers 404, as an unknown one
does. Clearing an alert lifts its quarantines on chain and needs a person (a portal
session) who is an admin or quality manager of the organisation, and a reason.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.fields import id_field
from webapp.api.schema import problems, read_responses
from webapp.api.views.common import IDEMPOTENCY, WriteView, person, query_choice
from webapp.monitoring.alert_selectors import alert_list, alert_of, rule_list, rule_of
from webapp.monitoring.alerts import MAX_REASON, alert_clear, rule_description
from webapp.monitoring.models import Alert, Rule
from webapp.monitoring.rule_services import MAX_LOTS, rule_create, rule_delete

ALERT_STATES = [s.value for s in Alert.State]


class RuleOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.URLField()
    name = serializers.CharField()
    kind = serializers.CharField()
    description = serializers.CharField(help_text="the rule in words")
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    duration_s = serializers.IntegerField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    radius_km = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)
    product_line = serializers.CharField()
    bundle_id = serializers.CharField(allow_null=True)
    lot_ids = serializers.ListField(child=serializers.CharField())
    quarantine = serializers.BooleanField()
    created_at = serializers.DateTimeField()


def rule_json(request: Request, rule: Rule) -> dict[str, Any]:
    body = {
        **{f: getattr(rule, f) for f in ("id", "name", "kind", "threshold", "duration_s")},
        **{f: getattr(rule, f) for f in ("latitude", "longitude", "radius_km", "product_line")},
        "url": reverse("api:rule", args=[rule.pk], request=request),
        "description": rule_description(rule),
        "bundle_id": None if rule.bundle_id is None else str(int(rule.bundle_id)),
        "lot_ids": [str(i) for i in rule.lot_ids],
        "quarantine": rule.quarantine,
        "created_at": rule.created_at,
    }
    data: dict[str, Any] = RuleOutput(body).data
    return data


class AlertOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.URLField()
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    kind = serializers.CharField()
    message = serializers.CharField()
    lot_ids = serializers.ListField(child=serializers.CharField())
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    worst_value = serializers.DecimalField(max_digits=40, decimal_places=12, allow_null=True)
    first_reading_id = serializers.IntegerField(allow_null=True)
    last_reading_id = serializers.IntegerField(allow_null=True)
    state = serializers.CharField(help_text="open or cleared")
    quarantined_lot_ids = serializers.ListField(child=serializers.CharField())
    operation_ids = serializers.ListField(child=serializers.UUIDField())
    cleared_at = serializers.DateTimeField(allow_null=True)
    clear_reason = serializers.CharField()
    clear_operation_ids = serializers.ListField(child=serializers.UUIDField())


def alert_json(request: Request, alert: Alert) -> dict[str, Any]:
    names: list[str] = list(AlertOutput().fields)
    body: dict[str, Any] = {name: getattr(alert, name, None) for name in names}
    body["url"] = reverse("api:alert", args=[alert.pk], request=request)
    body["lot_ids"] = [str(i) for i in alert.lot_ids]
    body["quarantined_lot_ids"] = [str(i) for i in alert.quarantined_lot_ids]
    data: dict[str, Any] = AlertOutput(body).data
    return data


class RuleInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Rule.Kind.values)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6, required=False)
    duration_s = serializers.IntegerField(min_value=0, required=False, default=0)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    radius_km = serializers.DecimalField(max_digits=12, decimal_places=3, required=False)
    product_line = serializers.CharField(max_length=200, required=False, default="")
    bundle_id = id_field(required=False)
    lot_ids = serializers.ListField(child=id_field(), max_length=MAX_LOTS, required=False)
    quarantine = serializers.BooleanField(
        required=False, default=True, help_text="quarantine the lots on chain (REPORTER)"
    )


class RuleListApi(WriteView):
    @extend_schema(
        operation_id="api_v1_rules_list",
        responses=read_responses(RuleOutput(many=True), by_id=False),
    )
    def get(self, request: Request) -> Response:
        rules = rule_list(organisation=acting_organisation(request))
        return Response([rule_json(request, r) for r in rules])

    @extend_schema(
        request=RuleInput,
        parameters=[IDEMPOTENCY],
        responses={201: RuleOutput, **problems(400, 401, 403, 406, 413, 415, 422, 429)},
    )
    def post(self, request: Request) -> Response:
        key = self.idempotency_key(request)
        data = self.parse(RuleInput, request)
        rule = rule_create(organisation=acting_organisation(request), idempotency_key=key, **data)
        body = rule_json(request, rule)
        return Response(body, status=201, headers={"Location": body["url"]})


class RuleDetailApi(APIView):
    def _rule(self, request: Request, rule_id: int) -> Rule:
        rule = rule_of(organisation=acting_organisation(request), rule_id=rule_id)
        if rule is None:  # or another organisation's: the same answer
            raise Http404("No such rule.")
        return rule

    @extend_schema(responses=read_responses(RuleOutput))
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(rule_json(request, self._rule(request, rule_id)))

    @extend_schema(responses={204: None, **problems(400, 401, 403, 404, 406, 429)})
    def delete(self, request: Request, rule_id: int) -> Response:
        rule_delete(rule=self._rule(request, rule_id))
        return Response(status=204)


class AlertListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = AlertOutput

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=ALERT_STATES)],
        responses=read_responses(AlertOutput(many=True)),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return alert_list(
            organisation=acting_organisation(self.request),
            state=query_choice(self.request, "state", ALERT_STATES),
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = [alert_json(request, a) for a in (page or [])]
        return self.get_paginated_response(rows)


def _alert(request: Request, alert_id: int) -> Alert:
    alert = alert_of(organisation=acting_organisation(request), alert_id=alert_id)
    if alert is None:  # or another organisation's: the same answer
        raise Http404("No such alert.")
    return alert


class AlertDetailApi(APIView):
    @extend_schema(responses=read_responses(AlertOutput))
    def get(self, request: Request, alert_id: int) -> Response:
        return Response(alert_json(request, _alert(request, alert_id)))


class AlertClearApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "AlertClearInput"

        reason = serializers.CharField(max_length=MAX_REASON, help_text="why, kept on chain")

    @extend_schema(
        request=InputSerializer,
        parameters=[IDEMPOTENCY],
        responses={200: AlertOutput, **problems(400, 401, 403, 404, 406, 413, 415, 422, 429)},
    )
    def post(self, request: Request, alert_id: int) -> Response:
        key = self.idempotency_key(request)
        alert = _alert(request, alert_id)
        data = self.parse(self.InputSerializer, request)
        cleared = alert_clear(
            alert=alert, user=person(request), reason=data["reason"], idempotency_key=key
        )
        return Response(alert_json(request, cleared))
