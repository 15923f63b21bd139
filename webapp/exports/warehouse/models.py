"""The warehouse's tables as models, for reading them with the ORM (the admin, tests, the
schema diagram). Unmanaged: `schema.py` creates them in the ``reporting`` schema and the
refresh (`refresh.py`) writes them with set-based SQL. Facts point at dimensions by their
surrogate keys (foreign keys without database constraints: a star schema is rebuilt from
the event store, not edited)."""

from __future__ import annotations

from django.db import models

from webapp.fields import Uint256Field


def _table(name: str) -> str:
    # Django quotes db_table as one identifier: this makes it "reporting"."<name>".
    return f'reporting"."{name}'


def _dimension(model: str, column: str) -> models.ForeignKey:  # type: ignore[type-arg]
    return models.ForeignKey(
        model, models.DO_NOTHING, db_column=column, db_constraint=False, related_name="+"
    )


class DimDate(models.Model):
    date_key = models.IntegerField(primary_key=True)  # yyyymmdd
    day = models.DateField(unique=True)
    year = models.SmallIntegerField()
    quarter = models.SmallIntegerField()
    month = models.SmallIntegerField()
    month_name = models.TextField()
    iso_week = models.SmallIntegerField()
    weekday = models.SmallIntegerField()  # 1 = Monday

    class Meta:
        managed = False
        db_table = _table("dim_date")

    def __str__(self) -> str:
        return str(self.day)


class DimOrganisation(models.Model):
    organisation_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    account = models.CharField(max_length=42)
    name = models.TextField()
    slug = models.TextField()
    roles = models.IntegerField()

    class Meta:
        managed = False
        db_table = _table("dim_organisation")

    def __str__(self) -> str:
        return self.name


class DimLot(models.Model):
    lot_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    lot_id = Uint256Field()
    kind = models.SmallIntegerField()
    kind_name = models.TextField()
    product_line = models.TextField()
    name = models.TextField()
    unit = models.TextField()
    gs1_key = models.TextField()
    creator = _dimension("DimOrganisation", "creator_key")
    registered_block = models.BigIntegerField()
    registered_at = models.DateTimeField(null=True)
    registered_date = _dimension("DimDate", "registered_date_key")
    quantity = Uint256Field()
    quarantined = models.BooleanField()
    state_block = models.BigIntegerField()  # the block of the version this row shows

    class Meta:
        managed = False
        db_table = _table("dim_lot")

    def __str__(self) -> str:
        return f"lot {self.lot_id}"


class LotPersonal(models.Model):
    """A lot's personal field, sealed: ciphertext under the subject's data key."""

    pk = models.CompositePrimaryKey("lot", "field")
    lot = _dimension("DimLot", "lot_key")
    field = models.TextField()
    subject_id = models.UUIDField()
    commitment = models.CharField(max_length=66)
    ciphertext = models.BinaryField(null=True)

    class Meta:
        managed = False
        db_table = _table("lot_personal")

    def __str__(self) -> str:
        return f"{self.field} of subject {self.subject_id}"


class FactHandoff(models.Model):
    handoff_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    handoff_id = Uint256Field()
    lot = _dimension("DimLot", "lot_key")
    sender = _dimension("DimOrganisation", "sender_key")
    receiver = _dimension("DimOrganisation", "receiver_key")
    quantity = Uint256Field()
    status = models.TextField()  # open, accepted, rejected, cancelled
    reason = models.TextField()
    initiated_block = models.BigIntegerField()
    initiated_date = _dimension("DimDate", "initiated_date_key")
    closed_block = models.BigIntegerField(null=True)
    closed_date = _dimension("DimDate", "closed_date_key")
    state_block = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = _table("fact_handoff")

    def __str__(self) -> str:
        return f"handoff {self.handoff_id}"


class FactTransformationEdge(models.Model):
    edge_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    transformation_id = Uint256Field()
    input_lot = _dimension("DimLot", "input_lot_key")
    output_lot = _dimension("DimLot", "output_lot_key")
    actor = _dimension("DimOrganisation", "actor_key")
    input_quantity = Uint256Field()
    output_quantity = Uint256Field()
    block = models.BigIntegerField()
    date = _dimension("DimDate", "date_key")

    class Meta:
        managed = False
        db_table = _table("fact_transformation_edge")

    def __str__(self) -> str:
        return f"transformation {self.transformation_id}"


class FactCertificate(models.Model):
    certificate_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    certificate_id = Uint256Field()
    subject_kind = models.SmallIntegerField()
    subject = Uint256Field()
    lot = _dimension("DimLot", "lot_key")  # null for a certificate of a participant
    issuer = _dimension("DimOrganisation", "issuer_key")
    certificate_type = models.TextField()
    claims = models.JSONField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    issued_block = models.BigIntegerField()
    issued_date = _dimension("DimDate", "issued_date_key")
    revoked = models.BooleanField()
    revoked_block = models.BigIntegerField(null=True)
    revoke_reason = models.TextField()
    state_block = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = _table("fact_certificate")

    def __str__(self) -> str:
        return f"certificate {self.certificate_id}"


class FactQuarantine(models.Model):
    """A quarantine set on or cleared from a lot (one row per chain event)."""

    quarantine_key = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    log_index = models.IntegerField()
    lot = _dimension("DimLot", "lot_key")
    reporter = _dimension("DimOrganisation", "reporter_key")
    action = models.TextField()  # set, cleared
    reason = models.TextField()
    block = models.BigIntegerField()
    date = _dimension("DimDate", "date_key")

    class Meta:
        managed = False
        db_table = _table("fact_quarantine")

    def __str__(self) -> str:
        return f"quarantine {self.action} at block {self.block}"


class FactLotFootprint(models.Model):
    """A lot's rolled-up figures as of a block (the rule of `webapp.sustainability`)."""

    lot = models.OneToOneField(
        DimLot,
        models.DO_NOTHING,
        primary_key=True,
        db_column="lot_key",
        db_constraint=False,
        related_name="+",
    )
    chain_id = models.BigIntegerField()
    as_of_block = models.BigIntegerField()
    quantity = Uint256Field()
    footprint_g_per_unit = models.DecimalField(max_digits=1000, decimal_places=500)
    footprint_complete = models.BooleanField()
    recycled_permille = models.DecimalField(max_digits=1000, decimal_places=500)
    certified_input_share = models.DecimalField(max_digits=1000, decimal_places=500)

    class Meta:
        managed = False
        db_table = _table("fact_lot_footprint")

    def __str__(self) -> str:
        return f"footprint of lot {self.lot_id}"


class WarehouseProgress(models.Model):
    """The progress of a running (or the last) warehouse rebuild, shown on the admin."""

    name = models.CharField(max_length=64, unique=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "warehouse progress"

    def __str__(self) -> str:
        return f"{self.name}: {self.done}/{self.total}"
