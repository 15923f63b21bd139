"""Partner REST API, /api/v1/. Thin views: parse, call one service or selector, serialize.

Writes answer 202 Accepted with the operation (and its URL in `Location`); they all need
an `Idempotency-Key` header. Errors are problem details (application/problem+json).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView
from web3 import Web3

from contracts.domain import LotKind
from webapp.api.authentication import acting_organisation
from webapp.api.fields import (
    CERTIFIED_CLAIM_RANGES,
    ClaimsInput,
    ascii_digits_field,
    certificate_date,
    id_field,
    printable_ascii,
    quantity_field,
)
from webapp.api.problems import IdempotencyKeyMissing, problem
from webapp.certificates.services import (
    CERTIFICATE_TYPES,
    CLAIM_KEYS,
    certificate_issue,
    certificate_revoke,
)
from webapp.documents.models import Document
from webapp.documents.selectors import document_for_reader
from webapp.documents.services import DocumentAltered, document_read, document_upload
from webapp.limits import (
    MAX_BUNDLE_ITEMS,
    MAX_CO2E_G_PER_UNIT,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_LOT_DOCUMENTS,
    MAX_NAME_LENGTH,
    MAX_PERSONAL_FIELD_LENGTH,
    MAX_PERSONAL_FIELDS,
    MAX_PROCESS_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TRANSFORMATION_INPUTS,
    MAX_TRANSFORMATION_OUTPUTS,
    MAX_UNIT_LENGTH,
)
from webapp.lots import selectors
from webapp.lots.services import (
    Claims,
    Output,
    bundle_create,
    bundle_unpack,
    handoff_accept,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
    transformation_record,
)
from webapp.operations.models import Operation
from webapp.operations.selectors import operation_reason_for_user
from webapp.organisations.models import Organisation
from webapp.privacy.services import personal_json
from webapp.provenance.shapes import certificate_json

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per intended write. The same key and body return the first operation;"
    " the same key with another body is refused with 422.",
)


class OperationOutput(serializers.ModelSerializer[Operation]):
    url = serializers.SerializerMethodField()
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
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


def _organisation(slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).exclude(address="").first()


# ---------------------------------------------------------------------------- lots


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
        gtin = ascii_digits_field(14)
        batch = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=MAX_CODE_LENGTH
        )
        claims = ClaimsInput(required=False)
        documents = serializers.ListField(
            child=serializers.RegexField(r"^(0x)?[0-9a-fA-F]{64}$"),
            required=False,
            default=list,
            max_length=MAX_LOT_DOCUMENTS,
            help_text="SHA-256 hashes of documents uploaded to /api/v1/documents",
        )
        personal = serializers.DictField(
            child=serializers.CharField(max_length=MAX_PERSONAL_FIELD_LENGTH),
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
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        claims = data.pop("claims", {}) or {}
        operation = lot_register(
            organisation=acting_organisation(request),
            kind=LotKind[data.pop("kind").upper()],
            claims=Claims(**claims),
            idempotency_key=self.idempotency_key(request),
            user=_person(request),
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

    def get_kind(self, lot: Any) -> str:
        return selectors.KIND_NAMES.get(lot.kind, "")

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
            OpenApiParameter("kind", str, enum=["raw_material", "component", "product", "bundle"]),
            OpenApiParameter("quarantined", bool),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        kind = params.get("kind", "")
        try:
            kind_value = LotKind[kind.upper()].value if kind else None
        except KeyError:
            raise serializers.ValidationError({"kind": [f"Unknown kind {kind!r}."]}) from None
        quarantined = params.get("quarantined")
        return selectors.lot_list(
            holder=_address(params.get("holder", "")),
            creator=_address(params.get("creator", "")),
            kind=kind_value,
            quarantined=None if quarantined is None else quarantined.lower() in {"1", "true"},
            scope=selectors.stock_scope(organisation=acting_organisation(self.request)),
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


def _address(value: str) -> str:
    if not value:
        return ""
    if Web3.is_address(value):
        return Web3.to_checksum_address(value)
    org = Organisation.objects.filter(slug=value).first()
    if org is None or not org.address:
        raise serializers.ValidationError({"holder": [f"No organisation {value!r}."]})
    return org.address


class LotDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, lot_id: int) -> Response:
        organisation = acting_organisation(request)
        detail = selectors.lot_detail(lot_id=lot_id, organisation=organisation)
        if detail is None:
            raise Http404(f"Lot {lot_id} is not on the chain (or not mirrored yet).")
        names = selectors.organisation_names()
        lot = detail.lot
        scope = selectors.stock_scope(organisation=organisation)
        covered = scope.covers(lot_id)
        holders = detail.holders if covered else scope.own(detail.holders)
        return Response(
            {
                "lot_id": int(lot.lot_id),
                "kind": detail.kind,
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
                    user=_person(request),
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
                "open_handoffs": [_handoff(h, names) for h in detail.open_handoffs],
                "history": [
                    {
                        "event": e.event,
                        "summary": selectors.describe_event(e, names),
                        "block_number": e.block_number,
                        "transaction_hash": e.transaction_hash,
                        "log_index": e.log_index,
                        "timestamp": e.block_timestamp,
                    }
                    for e in detail.history
                ],
            }
        )


# ------------------------------------------------------------------------ handoffs


def _handoff(h: Any, names: dict[str, str]) -> dict[str, Any]:
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
            OpenApiParameter("direction", str, enum=["incoming", "outgoing"]),
            OpenApiParameter("status", str, enum=["open", "accepted", "rejected", "cancelled"]),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.handoff_list(
            organisation=acting_organisation(self.request),
            direction=params.get("direction", ""),
            status=params.get("status", ""),
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
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
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


class HandoffAnswerApi(WriteView):
    verb = ""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "HandoffAnswerInput"

        reason = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=MAX_REASON_LENGTH
        )

    @extend_schema(
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
    )
    def post(self, request: Request, handoff_id: int) -> Response:
        data = self.parse(self.InputSerializer, request)
        organisation = acting_organisation(request)
        key = self.idempotency_key(request)
        if self.verb == "accept":
            operation = handoff_accept(
                organisation=organisation, handoff_id=handoff_id, idempotency_key=key
            )
        elif self.verb == "reject":
            operation = handoff_reject(
                organisation=organisation,
                handoff_id=handoff_id,
                reason=data["reason"],
                idempotency_key=key,
            )
        else:
            operation = handoff_cancel(
                organisation=organisation, handoff_id=handoff_id, idempotency_key=key
            )
        return self.accepted(request, operation)


# ----------------------------------------------------------- bundles, transformations


class ItemInput(serializers.Serializer[Any]):
    lot_id = id_field()
    quantity = quantity_field()


class BundleCreateApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "BundleCreateInput"

        name = serializers.CharField(max_length=MAX_NAME_LENGTH)
        sscc = ascii_digits_field(18)
        items = ItemInput(many=True, allow_empty=False, max_length=MAX_BUNDLE_ITEMS)

    @extend_schema(
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
    )
    def post(self, request: Request) -> Response:
        data = self.parse(self.InputSerializer, request)
        operation = bundle_create(
            organisation=acting_organisation(request),
            items=[(i["lot_id"], i["quantity"]) for i in data["items"]],
            name=data["name"],
            sscc=data["sscc"],
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


class BundleUnpackApi(WriteView):
    @extend_schema(request=None, responses={202: OperationOutput}, parameters=[IDEMPOTENCY])
    def post(self, request: Request, bundle_id: int) -> Response:
        operation = bundle_unpack(
            organisation=acting_organisation(request),
            bundle_id=bundle_id,
            idempotency_key=self.idempotency_key(request),
        )
        return self.accepted(request, operation)


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
        inputs = ItemInput(many=True, allow_empty=False, max_length=MAX_TRANSFORMATION_INPUTS)
        outputs = serializers.ListField(
            child=serializers.DictField(), allow_empty=False, max_length=MAX_TRANSFORMATION_OUTPUTS
        )

    @extend_schema(
        request=inline_serializer(
            "TransformationInput",
            {
                "process": serializers.CharField(max_length=MAX_PROCESS_LENGTH),
                "inputs": ItemInput(many=True, max_length=MAX_TRANSFORMATION_INPUTS),
                "outputs": OutputInput(many=True, max_length=MAX_TRANSFORMATION_OUTPUTS),
            },
        ),
        responses={202: OperationOutput},
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


# ---------------------------------------------------------------------- certificates


class CertificateListApi(APIView):
    class QuerySerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CertificateListQuery"

        lot_id = id_field(required=False)

    @extend_schema(parameters=[QuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.certificate_list(lot_id=query.validated_data.get("lot_id"))
        return Response({"results": [certificate_json(c) for c in rows[:500]]})


class CertificateIssueApi(WriteView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CertificateIssueInput"

        lot_id = id_field()
        certificate_type = serializers.ChoiceField(choices=list(CERTIFICATE_TYPES))
        document_hash = serializers.RegexField(r"^(0x)?[0-9a-fA-F]{64}$")
        valid_from = serializers.DateTimeField()
        valid_until = serializers.DateTimeField()
        claims = serializers.DictField(
            child=serializers.IntegerField(min_value=0, max_value=MAX_CO2E_G_PER_UNIT),
            default=dict,
            help_text=f"keys: {', '.join(CLAIM_KEYS)}",
        )

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
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
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
        request=InputSerializer, responses={202: OperationOutput}, parameters=[IDEMPOTENCY]
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


# ------------------------------------------------------------------------ documents


class DocumentOutput(serializers.ModelSerializer[Document]):
    hash = serializers.CharField(source="hash_hex")

    class Meta:
        model = Document
        fields = ["hash", "name", "content_type", "size", "uploaded_at"]


class DocumentUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "DocumentUpload", {"file": serializers.FileField()}
            )
        },
        responses={201: DocumentOutput},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": ["Attach the document as `file`."]})
        document = document_upload(
            organisation=acting_organisation(request),
            name=upload.name or "document",
            content=upload,
            content_type=upload.content_type or "",
        )
        return Response(DocumentOutput(document).data, status=201)


class DocumentDownloadApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, sha256: str) -> Any:
        document = document_for_reader(sha256=sha256, organisation=acting_organisation(request))
        if document is None:  # or not one this organisation may read: the same answer
            raise Http404("No document with that hash.")
        try:
            content = document_read(document=document)
        except DocumentAltered as exc:
            return problem(409, "The stored document does not match its hash", str(exc))
        return FileResponse(
            iter([content]),
            content_type=document.content_type,
            as_attachment=True,
            filename=document.name,
        )


# ----------------------------------------------------------------------- operations


class OperationListApi(generics.ListAPIView):  # type: ignore[type-arg]
    serializer_class = OperationOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in Operation.Status]),
            OpenApiParameter("action", str),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        rows = Operation.objects.filter(organisation=acting_organisation(self.request))
        params = self.request.query_params
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        if params.get("action"):
            rows = rows.filter(action=params["action"])
        return rows.select_related("organisation")


class OperationDetailApi(generics.RetrieveAPIView):  # type: ignore[type-arg]
    serializer_class = OperationOutput
    lookup_url_kwarg = "operation_id"

    def get_queryset(self) -> Any:
        return Operation.objects.filter(organisation=acting_organisation(self.request))


class OrganisationListApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        rows = Organisation.objects.exclude(address="").filter(is_operator=False)
        return Response(
            {
                "results": [
                    {"slug": o.slug, "name": o.name, "address": o.address, "roles": o.role_names}
                    for o in rows
                ]
            }
        )


class InventoryApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        holdings = selectors.inventory(organisation=acting_organisation(request))
        return Response(
            {
                "chain_id": settings.CHAIN_ID,
                "results": [
                    {
                        "lot_id": h.lot_id,
                        "quantity": int(h.quantity),
                        "name": h.name,
                        "unit": h.unit,
                        "kind": h.kind,
                        "quarantined": h.quarantined,
                    }
                    for h in holdings
                ],
            }
        )


def _person(request: Request) -> Any:
    """The logged-in person behind a request (None for an API token)."""
    user = request.user
    return user if getattr(user, "pk", None) and user.is_authenticated else None
