"""The shapes of the API's read answers, as serializers: the schema publishes them, and the
views build their answers with the shared JSON shapes (webapp/provenance/shapes.py,
`handoff_json`) these describe field for field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

#: A lot's kind, one spelling in answers and in the `kind` filter (the `LotKind` names).
LOT_KINDS = ["raw_material", "component", "product", "bundle"]
#: The schema of a `kind` in an answer.
LOT_KIND_FIELD = serializers.ChoiceField(choices=LOT_KINDS)


class HolderOutput(serializers.Serializer[Any]):
    address = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True, help_text="the organisation's name, when known")
    quantity = serializers.IntegerField(min_value=0)


class LotQuantityOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    quantity = serializers.IntegerField()


class CertificateOutput(serializers.Serializer[Any]):
    certificate_id = serializers.IntegerField()
    lot_id = serializers.IntegerField()
    certificate_type = serializers.CharField(allow_blank=True)
    issuer = serializers.CharField(allow_blank=True)
    document_hash = serializers.CharField(allow_blank=True)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    claims = serializers.DictField(child=serializers.IntegerField())
    revoked = serializers.BooleanField()
    revoke_reason = serializers.CharField(allow_blank=True)


class CertificateListOutput(serializers.Serializer[Any]):
    results = CertificateOutput(many=True)


class OpenHandoffOutput(serializers.Serializer[Any]):
    handoff_id = serializers.IntegerField()
    lot_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    sender = serializers.CharField(allow_blank=True)
    sender_name = serializers.CharField(allow_blank=True)
    receiver = serializers.CharField(allow_blank=True)
    receiver_name = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class HistoryEntryOutput(serializers.Serializer[Any]):
    event = serializers.CharField(allow_blank=True)
    summary = serializers.CharField(allow_blank=True)
    block_number = serializers.IntegerField()
    transaction_hash = serializers.CharField(allow_blank=True)
    log_index = serializers.IntegerField()
    timestamp = serializers.DateTimeField()


class PersonalFieldOutput(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=["revealed", "erased", "withheld", "unavailable"])
    value = serializers.CharField(required=False, help_text="only when revealed")


class LotDetailOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LOT_KINDS)
    quantity = serializers.IntegerField()
    creator = serializers.CharField(allow_blank=True)
    creator_name = serializers.CharField(allow_blank=True)
    quarantined = serializers.BooleanField()
    quarantine_reason = serializers.CharField(allow_blank=True)
    metadata_hash = serializers.CharField(allow_blank=True)
    metadata = serializers.JSONField(
        allow_null=True, help_text="the lot's metadata document, when it is stored here"
    )
    metadata_matches_chain = serializers.BooleanField(allow_null=True)
    personal = serializers.DictField(child=PersonalFieldOutput())
    holders = HolderOutput(many=True)
    holders_scope = serializers.ChoiceField(
        choices=["all", "own"],
        help_text="`own`: the lot is outside this organisation's stock, so only its own"
        " holding is shown",
    )
    contents = LotQuantityOutput(many=True)
    made_from = LotQuantityOutput(many=True)
    certificates = CertificateOutput(many=True)
    open_handoffs = OpenHandoffOutput(many=True)
    history = HistoryEntryOutput(many=True)


class LotSummaryOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LOT_KINDS)
    name = serializers.CharField(allow_blank=True)
    unit = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    creator = serializers.CharField(allow_blank=True)
    creator_name = serializers.CharField(allow_blank=True)
    quarantined = serializers.BooleanField()
    holders = HolderOutput(many=True)
    certificates = CertificateOutput(many=True)


class TraceNodeOutput(LotSummaryOutput):
    depth = serializers.IntegerField(min_value=0, help_text="distance from the traced lot")


class TraceEdgeOutput(serializers.Serializer[Any]):
    # `from` is a keyword: the field is declared under another name and renamed below.
    from_ = serializers.IntegerField(help_text="the lot that went in")
    to = serializers.IntegerField(help_text="the lot it went into")
    kind = serializers.ChoiceField(choices=["transform", "bundle"])
    transformation_id = serializers.IntegerField(allow_null=True)
    quantity = serializers.IntegerField()
    output_quantity = serializers.IntegerField()
    block_number = serializers.IntegerField()
    log_index = serializers.IntegerField()
    until_block = serializers.IntegerField(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        renamed = {("from" if name == "from_" else name): f for name, f in fields.items()}
        return renamed


class TraceOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=["up", "down"])
    depth = serializers.IntegerField()
    as_of_block = serializers.IntegerField(allow_null=True)
    reached_depth_cap = serializers.BooleanField()
    nodes = TraceNodeOutput(many=True)
    edges = TraceEdgeOutput(many=True)


class ChainMomentOutput(serializers.Serializer[Any]):
    block_number = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    transaction_hash = serializers.CharField(allow_blank=True)
    log_index = serializers.IntegerField()


class CustodyStepOutput(serializers.Serializer[Any]):
    handoff_id = serializers.IntegerField()
    carried_by = serializers.IntegerField(help_text="the lot itself, or the bundle carrying it")
    sender = serializers.CharField(allow_blank=True)
    sender_name = serializers.CharField(allow_blank=True)
    receiver = serializers.CharField(allow_blank=True)
    receiver_name = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "accepted", "rejected", "cancelled"])
    offered = ChainMomentOutput()
    settled = ChainMomentOutput(allow_null=True)


class CustodyOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    handoffs = CustodyStepOutput(many=True)


class HoldersOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    as_of_block = serializers.IntegerField(allow_null=True)
    holders_scope = serializers.ChoiceField(choices=["all", "own"])
    holders = HolderOutput(many=True)


class BundleContentsOutput(serializers.Serializer[Any]):
    bundle_id = serializers.IntegerField()
    as_of_block = serializers.IntegerField(allow_null=True)
    contents = LotQuantityOutput(many=True)


class FiguresOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    as_of_block = serializers.IntegerField()
    carbon_footprint_g_co2e_per_unit = serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=True
    )
    carbon_footprint_complete = serializers.BooleanField()
    recycled_content_permille = serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=True
    )
    certified_input_share = serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=True, help_text="0 to 1"
    )
    certificates_used = serializers.ListField(child=serializers.IntegerField())
    transformations_crossed = serializers.ListField(child=serializers.IntegerField())


class ImpactHolderOutput(serializers.Serializer[Any]):
    organisation = serializers.CharField(allow_blank=True, help_text="the organisation's slug")
    name = serializers.CharField(allow_blank=True)
    lots = serializers.ListField(child=serializers.IntegerField())


class RevocationImpactOutput(serializers.Serializer[Any]):
    certificate_id = serializers.IntegerField()
    revoked = serializers.BooleanField()
    lots = LotSummaryOutput(many=True)
    holders = ImpactHolderOutput(many=True)


class OrganisationOutput(serializers.Serializer[Any]):
    slug = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True)
    roles = serializers.ListField(child=serializers.CharField(allow_blank=True))


class OrganisationListOutput(serializers.Serializer[Any]):
    results = OrganisationOutput(many=True)


class HoldingOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    unit = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=LOT_KINDS)
    quarantined = serializers.BooleanField()


class InventoryOutput(serializers.Serializer[Any]):
    chain_id = serializers.IntegerField()
    results = HoldingOutput(many=True)
