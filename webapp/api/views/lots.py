"""Lots: register one, list them, read one with its holders, certificates and history."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from web3 import Web3

from contracts.chain.domain import LotKind
from webapp.api.authentication import acting_organisation
from webapp.api.fields import (
    GS1_BATCH_LENGTH,
    GS1_BATCH_MESSAGE,
    GS1_BATCH_PATTERN,
    ClaimsInput,
    PersonalFieldsField,
    gs1_digits_field,
    quantity_field,
)
from webapp.api.outputs import LOT_KIND_FIELD, LOT_KINDS, LotDetailOutput
from webapp.api.schema import read_responses, write_responses
from webapp.api.views.common import (
    IDEMPOTENCY,
    OperationOutput,
    WriteView,
    handoff_json,
    person,
    query_choice,
)
from webapp.limits import (
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_LOT_DOCUMENTS,
    MAX_NAME_LENGTH,
    MAX_PERSONAL_FIELDS,
    MAX_UNIT_LENGTH,
)
from webapp.lots import selectors
from webapp.lots.selectors.scope import stock_scope
from webapp.lots.services import Claims, lot_register
from webapp.organisations.selectors import organisation_by_slug, organisation_names
from webapp.privacy.services import personal_json
from webapp.provenance.shapes import certificate_json


class LotRegisterApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "LotRegisterInput"

        name = serializers.CharField(max_length=MAX_NAME_LENGTH)
        quantity = quantity_field(help_text="in base units of `unit`")
        unit = serializers.CharField(max_length=MAX_UNIT_LENGTH, help_text="g, kg, piece…")
        kind = serializers.ChoiceField(
            choices=["raw_material", "component", "product"], default="raw_material"
        )
        description = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=MAX_DESCRIPTION_LENGTH
        )
        gtin = gs1_digits_field(8, 12, 13, 14)
        batch = serializers.RegexField(
            GS1_BATCH_PATTERN,
            required=False,
            allow_blank=True,
            default="",
            max_length=GS1_BATCH_LENGTH,
            error_messages={"invalid": GS1_BATCH_MESSAGE},
        )
        claims = ClaimsInput(required=False)
        documents = serializers.ListField(
            child=serializers.RegexField(r"^(0x)?[0-9a-fA-F]{64}$"),
            required=False,
            default=list,
            max_length=MAX_LOT_DOCUMENTS,
            help_text="SHA-256 hashes of documents uploaded to /api/v1/documents",
        )
        personal = PersonalFieldsField(
            required=False,
            default=dict,
            help_text="personal data (contact_name, contact_email, contact_phone, "
            "postal_address): sealed per data subject off chain, erasable; the metadata "
            "holds salted commitments only",
        )
        data_subject = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=MAX_CODE_LENGTH * 2,
            help_text="id of an existing data subject of yours the personal data belongs to",
        )

        def validate_personal(self, value: dict[str, str]) -> dict[str, str]:
            if len(value) > MAX_PERSONAL_FIELDS:
                raise serializers.ValidationError(f"At most {MAX_PERSONAL_FIELDS} fields.")
            return value

    @extend_schema(
        request=InputSerializer,
        responses=write_responses(OperationOutput),
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        claims = data.pop("claims", {}) or {}
        operation = lot_register(
            organisation=acting_organisation(request),
            kind=LotKind[data.pop("kind").upper()],
            claims=Claims(**claims),
            idempotency_key=self.idempotency_key(request),
            user=person(request),
            **data,
        )
        return self.accepted(request, operation)


class LotOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    kind = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    quantity = serializers.IntegerField(help_text="total registered or minted")
    creator = serializers.CharField()
    metadata_hash = serializers.CharField()
    quarantined = serializers.BooleanField()
    registered_block = serializers.IntegerField(source="block_from")

    def _meta(self, lot: Any) -> Any:
        return self.context.get("metadata", {}).get(int(lot.lot_id))

    @extend_schema_field(LOT_KIND_FIELD)
    def get_kind(self, lot: Any) -> str:
        return selectors.KIND_CODES.get(lot.kind, "")

    def get_name(self, lot: Any) -> str:
        meta = self._meta(lot)
        return meta.name if meta else ""

    def get_unit(self, lot: Any) -> str:
        meta = self._meta(lot)
        return meta.unit if meta else ""


class LotListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = LotOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("holder", str, description="organisation slug or address"),
            OpenApiParameter("creator", str, description="organisation slug or address"),
            OpenApiParameter("kind", str, enum=LOT_KINDS),
            OpenApiParameter("quarantined", bool, description="true or false (1 or 0)"),
        ],
        responses=read_responses(LotOutput(many=True)),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        kind = query_choice(self.request, "kind", LOT_KINDS)
        kind_value = LotKind[kind.upper()].value if kind else None
        quarantined = _boolean(params.get("quarantined"), name="quarantined")
        return selectors.lot_list(
            holder=_address(params.get("holder", "")),
            creator=_address(params.get("creator", "")),
            kind=kind_value,
            quarantined=quarantined,
            scope=stock_scope(organisation=acting_organisation(self.request)),
        )

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        self._metadata = selectors.metadata_for([lot.lot_id for lot in page or []])
        return page

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["context"] = {
            **self.get_serializer_context(),
            "metadata": getattr(self, "_metadata", {}),
        }
        return self.serializer_class(*args, **kwargs)


#: What a boolean query parameter may say (anything else is refused, not read as false).
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _boolean(value: str | None, *, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() not in _BOOLEANS:
        raise serializers.ValidationError({name: ["Give true or false."]})
    return _BOOLEANS[value.lower()]


def _address(value: str) -> str:
    if not value:
        return ""
    if Web3.is_address(value):
        return Web3.to_checksum_address(value)
    org = organisation_by_slug(slug=value)
    if org is None:
        raise serializers.ValidationError({"holder": [f"No organisation {value!r}."]})
    return org.address


class LotDetailApi(APIView):
    @extend_schema(responses=read_responses(LotDetailOutput))
    def get(self, request: Request, lot_id: int) -> Response:
        organisation = acting_organisation(request)
        detail = selectors.lot_detail(lot_id=lot_id, organisation=organisation)
        if detail is None:
            raise Http404(f"Lot {lot_id} is not on the chain (or not mirrored yet).")
        names = organisation_names()
        lot = detail.lot
        scope = stock_scope(organisation=organisation)
        covered = scope.covers(lot_id)
        holders = detail.holders if covered else scope.own(detail.holders)
        units = selectors.units_of(detail.history, lot_id)
        return Response(
            {
                "lot_id": int(lot.lot_id),
                "kind": detail.kind_code,
                "quantity": int(lot.quantity),
                "creator": lot.creator,
                "creator_name": names.get(lot.creator, ""),
                "quarantined": lot.quarantined,
                "quarantine_reason": lot.quarantine_reason,
                "metadata_hash": lot.metadata_hash,
                "metadata": detail.metadata.document if detail.metadata else None,
                "metadata_matches_chain": detail.metadata_matches,
                "personal": personal_json(
                    detail.metadata.document if detail.metadata else None,
                    organisation=acting_organisation(request),
                    user=person(request),
                    purpose=f"API lot {lot_id} ({request.user})",
                ),
                "holders": [
                    {"address": a, "name": names.get(a, ""), "quantity": int(q)}
                    for a, q in holders.items()
                ],
                "holders_scope": "all" if covered else "own",
                "contents": [{"lot_id": i, "quantity": int(q)} for i, q in detail.contents.items()],
                "made_from": [
                    {"lot_id": int(e.input_lot), "quantity": int(e.input_quantity)}
                    for e in detail.inputs
                ],
                "certificates": [certificate_json(c) for c in detail.certificates],
                "open_handoffs": [handoff_json(h, names) for h in detail.open_handoffs],
                "history": [
                    {
                        "event": e.event,
                        "summary": selectors.describe_event(e, names, units),
                        "block_number": e.block_number,
                        "transaction_hash": e.transaction_hash,
                        "log_index": e.log_index,
                        "timestamp": e.block_timestamp,
                    }
                    for e in detail.history
                ],
            }
        )
