"""Partner API reads about provenance: traces, custody, as-of state, figures, revocation
impact. Thin views: parse the query, call one selector, shape the answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.outputs import (
    BundleContentsOutput,
    CustodyOutput,
    FiguresOutput,
    HoldersOutput,
    RevocationImpactOutput,
    TraceOutput,
)
from webapp.api.schema import read_responses
from webapp.limits import MAX_BLOCK_NUMBER
from webapp.lots.selectors import KIND_CODES
from webapp.lots.selectors.scope import stock_scope
from webapp.organisations.selectors import organisation_names
from webapp.projections.selectors import bundle_contents, lot_holders
from webapp.provenance.selectors import (
    MAX_DEPTH,
    LotNotFound,
    custody_timeline,
    lot_exists,
    lot_trace,
    resolve_as_of,
)
from webapp.provenance.services import certificate_revocation_impact
from webapp.provenance.shapes import custody_json, lot_json, trace_json
from webapp.sustainability.selectors import lot_figures
from webapp.sustainability.shapes import figures_json

AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.STR,
    description="A block number, or an ISO date / date-time (a date means the end of that"
    " day, UTC). Omitted: now.",
)


def as_of_block(request: Request) -> int | None:
    value = request.query_params.get("as_of")
    if value is None or value == "":
        return None
    text = value.strip()
    # isdigit() also holds for '²'; block numbers are ASCII digits within a bigint.
    if text.isdigit() and not (
        text.isascii() and len(text) <= 19 and int(text) <= MAX_BLOCK_NUMBER
    ):
        raise serializers.ValidationError(
            {"as_of": [f"A block number is made of digits 0-9, at most {MAX_BLOCK_NUMBER}."]}
        )
    try:
        return resolve_as_of(value=value)
    except ValueError as exc:
        raise serializers.ValidationError({"as_of": [str(exc)]}) from None


def _known(lot_id: int) -> None:
    if not lot_exists(lot_id=lot_id):
        raise Http404(f"Lot {lot_id} is not on the chain (or not mirrored yet).")


class TraceApi(APIView):
    class QuerySerializer(serializers.Serializer[Any]):
        direction = serializers.ChoiceField(choices=["up", "down"], default="up")
        depth = serializers.IntegerField(min_value=1, max_value=MAX_DEPTH, default=16)

    @extend_schema(
        parameters=[QuerySerializer, AS_OF],
        responses=read_responses(TraceOutput),
        description="Upstream (sources, through transformations and bundles) or downstream"
        " (what the lot went into) lineage with quantities, holders and certificates.",
    )
    def get(self, request: Request, lot_id: int) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        block = as_of_block(request)
        try:
            trace = lot_trace(
                lot_id=lot_id,
                direction=query.validated_data["direction"],
                depth=query.validated_data["depth"],
                block=block,
            )
        except LotNotFound:
            raise Http404(f"Lot {lot_id} is not on the chain (or not mirrored yet).") from None
        shaped = trace_json(trace, kinds=KIND_CODES)
        shaped["nodes"] = stock_scope(organisation=acting_organisation(request)).trace_nodes(
            shaped["nodes"]
        )
        return Response(shaped)


class CustodyApi(APIView):
    @extend_schema(responses=read_responses(CustodyOutput, org=False))
    def get(self, request: Request, lot_id: int) -> Response:
        """Each handoff of the lot (and of any bundle while it carried the lot)."""
        _known(lot_id)
        return Response(
            {"lot_id": lot_id, "handoffs": custody_json(custody_timeline(lot_id=lot_id))}
        )


class HoldersApi(APIView):
    @extend_schema(parameters=[AS_OF], responses=read_responses(HoldersOutput))
    def get(self, request: Request, lot_id: int) -> Response:
        """Who held the lot, and how much: now or as of a block or date."""
        block = as_of_block(request)
        _known(lot_id)
        names = organisation_names()
        holders = lot_holders(chain_id=settings.CHAIN_ID, lot_id=lot_id, block=block)
        scope = stock_scope(organisation=acting_organisation(request))
        covered = scope.covers(lot_id)
        if not covered:
            holders = scope.own(holders)
        return Response(
            {
                "lot_id": lot_id,
                "as_of_block": block,
                "holders_scope": "all" if covered else "own",
                "holders": [
                    {"address": a, "name": names.get(a, ""), "quantity": int(q)}
                    for a, q in holders.items()
                    if q > 0
                ],
            }
        )


class BundleContentsApi(APIView):
    @extend_schema(parameters=[AS_OF], responses=read_responses(BundleContentsOutput, org=False))
    def get(self, request: Request, bundle_id: int) -> Response:
        """What a bundle contained: now or as of a block or date."""
        block = as_of_block(request)
        _known(bundle_id)
        contents = bundle_contents(chain_id=settings.CHAIN_ID, bundle_id=bundle_id, block=block)
        return Response(
            {
                "bundle_id": bundle_id,
                "as_of_block": block,
                "contents": [{"lot_id": i, "quantity": int(q)} for i, q in contents.items()],
            }
        )


class FiguresApi(APIView):
    @extend_schema(parameters=[AS_OF], responses=read_responses(FiguresOutput, org=False))
    def get(self, request: Request, lot_id: int) -> Response:
        """Carbon footprint per unit, recycled content and certified-input share, rolled up
        from chain events (the same numbers for every participant at the same block)."""
        block = as_of_block(request)
        _known(lot_id)
        try:
            figures = lot_figures(lot_id=lot_id, block=block)
        except LotNotFound:
            raise Http404(f"Lot {lot_id} did not exist at that block.") from None
        return Response(figures_json(figures))


class RevocationImpactApi(APIView):
    @extend_schema(responses=read_responses(RevocationImpactOutput))
    def get(self, request: Request, certificate_id: int) -> Response:
        """Every lot and bundle downstream of the certificate's subject, with holders."""
        impact = certificate_revocation_impact(certificate_id=certificate_id)
        if impact is None:
            raise Http404(f"Certificate {certificate_id} is not on the chain.")
        scope = stock_scope(organisation=acting_organisation(request))
        covered = scope.summaries(impact.lots)
        impact.holders = scope.holdings_by_organisation(impact.holders, covered)
        names = organisation_names()
        return Response(
            {
                "certificate_id": certificate_id,
                "revoked": impact.certificate.revoked,
                "lots": [lot_json(s, names, kinds=KIND_CODES) for s in impact.lots],
                "holders": [
                    {"organisation": o.slug, "name": o.name, "lots": lots}
                    for o, lots in impact.holders.items()
                ],
            }
        )
