"""Certificates: list them, issue one, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.fields import (
    CERTIFIED_CLAIM_RANGES,
    CertifiedClaimsField,
    certificate_date,
    id_field,
)
from webapp.api.outputs import CertificateListOutput
from webapp.api.schema import read_responses, write_responses
from webapp.api.views.common import IDEMPOTENCY, OperationOutput, WriteView
from webapp.certificates.selectors import certificate_list
from webapp.certificates.services import (
    CERTIFICATE_TYPES,
    CLAIM_KEYS,
    certificate_issue,
    certificate_revoke,
)
from webapp.limits import (
    EARLIEST_CERTIFICATE_DATE,
    LATEST_CERTIFICATE_DATE,
    MAX_REASON_LENGTH,
)
from webapp.provenance.shapes import certificate_json

CERTIFICATE_WINDOW = (
    f"between {EARLIEST_CERTIFICATE_DATE:%Y-%m-%d} and {LATEST_CERTIFICATE_DATE:%Y-%m-%d}"
    " (UTC when no offset is given)"
)


class CertificateListApi(APIView):
    class QuerySerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CertificateListQuery"

        lot_id = id_field(required=False)

    @extend_schema(
        parameters=[QuerySerializer],
        responses=read_responses(CertificateListOutput, by_id=False, org=False),
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = certificate_list(lot_id=query.validated_data.get("lot_id"))
        return Response({"results": [certificate_json(c) for c in rows[:500]]})


class CertificateIssueApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CertificateIssueInput"

        lot_id = id_field()
        certificate_type = serializers.ChoiceField(choices=list(CERTIFICATE_TYPES))
        document_hash = serializers.RegexField(r"^(0x)?[0-9a-fA-F]{64}$")
        valid_from = serializers.DateTimeField(help_text=CERTIFICATE_WINDOW)
        valid_until = serializers.DateTimeField(help_text=CERTIFICATE_WINDOW)
        claims = CertifiedClaimsField(default=dict, help_text=f"keys: {', '.join(CLAIM_KEYS)}")

        def validate_valid_from(self, value: datetime) -> datetime:
            return certificate_date(value)

        def validate_valid_until(self, value: datetime) -> datetime:
            return certificate_date(value)

        def validate_claims(self, value: dict[str, int]) -> dict[str, int]:
            for key, number in value.items():
                if key not in CERTIFIED_CLAIM_RANGES:
                    raise serializers.ValidationError(
                        f"Unknown claim {key!r}; use {', '.join(CLAIM_KEYS)}."
                    )
                if number > CERTIFIED_CLAIM_RANGES[key]:
                    raise serializers.ValidationError(
                        f"{key} is at most {CERTIFIED_CLAIM_RANGES[key]:,}."
                    )
            return value

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        operation = certificate_issue(
            organisation=acting_organisation(request),
            idempotency_key=self.idempotency_key(request),
            **data,
        )
        return self.accepted(request, operation)


class CertificateRevokeApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CertificateRevokeInput"

        reason = serializers.CharField(max_length=MAX_REASON_LENGTH)

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput, by_id=True),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, certificate_id: int) -> Response:
        data = self.parse(self.InputSerializer, request)
        operation = certificate_revoke(
            organisation=acting_organisation(request),
            certificate_id=certificate_id,
            reason=data["reason"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)
