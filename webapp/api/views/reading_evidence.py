"""`GET /api/v1/lots/{lot_id}/readings/evidence`: a lot's reading evidence pack, the readings
in and around the given excursions with the proofs that they were anchored on chain
(``provenant-reading-evidence/1``, checked offline by ``python -m contracts.proofs.verify``).

Readings are participants' data, never public: a member gets the pack of a lot it is a
custody party to (auditors and the operator of every lot), the stock rule of
`webapp.lots.selectors.scope.StockScope`; any other lot is answered 404.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.problems import PROBLEM, problem
from webapp.api.schema import Problem, read_responses
from webapp.lots.selectors.scope import stock_scope
from webapp.monitoring.evidence import lot_evidence
from webapp.operations.anchors import ProofUnavailable

MAX_EXCURSIONS = 100


def _moment(text: str) -> datetime:
    try:
        moment = parse_datetime(text.strip())
    except ValueError:  # well formed, but no such moment (month 13)
        moment = None
    if moment is None or moment.tzinfo is None:
        raise serializers.ValidationError(
            f"{text!r} is not an ISO 8601 date and time with its offset (2026-12-03T06:00Z)."
        )
    return moment


def _reading_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    text = serializers.CharField
    return {
        "lotId": text(),
        "time": text(),
        "type": text(),
        "value": text(allow_null=True),
        "minValue": text(allow_null=True),
        "maxValue": text(allow_null=True),
        "meanValue": text(allow_null=True),
        "unit": text(),
        "deviceId": text(),
        "deviceSeq": serializers.IntegerField(allow_null=True),
        "latitude": text(allow_null=True),
        "longitude": text(allow_null=True),
        "source": serializers.ChoiceField(choices=["device", "epcis"]),
    }


#: A reading's canonical item (`contracts.proofs.readings`), the Merkle leaf's preimage; its
#: keys are the item's own (camelCase like EPCIS; `source` cannot be a serializer attribute).
ReadingItemOutput = type(
    "ReadingItemOutput",
    (serializers.Serializer,),
    {**_reading_fields(), "__doc__": "A reading's canonical item: its Merkle leaf's preimage."},
)


class ExcursionOutput(serializers.Serializer[dict[str, object]]):
    start = serializers.CharField()
    end = serializers.CharField()


class ReadingEvidenceOutput(serializers.Serializer[dict[str, object]]):
    format = serializers.CharField(help_text="provenant-reading-evidence/1")
    generated_at = serializers.CharField()
    chain_id = serializers.IntegerField()
    contracts = serializers.DictField(child=serializers.CharField())
    lot_id = serializers.IntegerField()
    excursions = ExcursionOutput(many=True)
    margin_seconds = serializers.IntegerField()
    readings = serializers.ListField(
        child=ReadingItemOutput(), help_text="The anchored readings, in time order"
    )
    pending = serializers.ListField(
        child=ReadingItemOutput(), help_text="Readings not anchored yet (no proof)"
    )
    proofs = serializers.ListField(
        child=serializers.JSONField(),
        help_text="One provenant-anchored-item/1 proof per reading of `readings`",
    )


class ReadingEvidenceApi(APIView):
    class QuerySerializer(serializers.Serializer[dict[str, object]]):
        excursion = serializers.ListField(
            child=serializers.CharField(max_length=80),
            min_length=1,
            max_length=MAX_EXCURSIONS,
        )
        margin_minutes = serializers.IntegerField(min_value=0, max_value=24 * 60, default=30)

        def validate_excursion(self, value: list[str]) -> list[tuple[datetime, datetime]]:
            intervals: list[tuple[datetime, datetime]] = []
            for text in value:
                start, slash, end = text.partition("/")
                if not slash:
                    raise serializers.ValidationError(
                        f"{text!r} is not an interval: give its start and end as START/END."
                    )
                interval = (_moment(start), _moment(end))
                if interval[1] < interval[0]:
                    raise serializers.ValidationError(f"{text!r} ends before it starts.")
                intervals.append(interval)
            return intervals

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "excursion",
                OpenApiTypes.STR,
                many=True,
                required=True,
                description="An excursion as an ISO 8601 interval START/END (repeat for more)",
            ),
            OpenApiParameter(
                "margin_minutes",
                OpenApiTypes.INT,
                description="How far around each excursion readings are included (default 30)",
            ),
        ],
        responses={
            **read_responses(ReadingEvidenceOutput),
            (503, PROBLEM): OpenApiResponse(
                response=Problem, description="The chain node cannot give a proof right now."
            ),
        },
    )
    def get(self, request: Request, lot_id: int) -> Response:
        """The lot's readings around the excursions, each with its anchoring proof."""
        query = self.QuerySerializer(
            data={
                "excursion": request.query_params.getlist("excursion"),
                **(
                    {"margin_minutes": request.query_params["margin_minutes"]}
                    if "margin_minutes" in request.query_params
                    else {}
                ),
            }
        )
        query.is_valid(raise_exception=True)
        if not stock_scope(organisation=acting_organisation(request)).covers(lot_id):
            raise Http404(f"Lot {lot_id} is not among the lots whose readings you may see.")
        try:
            pack = lot_evidence(
                lot_id,
                query.validated_data["excursion"],
                margin=timedelta(minutes=query.validated_data["margin_minutes"]),
            )
        except ProofUnavailable as exc:
            return problem(503, "Proof unavailable right now", str(exc))
        except ValueError as exc:
            # Too many readings (at most MAX_READINGS): narrower windows are needed.
            return problem(400, "The request was refused", str(exc))
        response = Response(pack)
        response["Content-Disposition"] = (
            f'attachment; filename="reading-evidence-lot-{lot_id}.json"'
        )
        return response
