"""Read models rebuilt from the event store alone.

Every row is a version of one entity, true from (block_from, log_from) until block_to
(exclusive; NULL while current). "As of block N" selects block_from <= N < block_to.
A change closes the current version and opens a new one, so rolling back to block A is
the same two statements for every table: delete versions born after A, reopen versions
closed after A.
"""

from __future__ import annotations

from django.db import models

from webapp.fields import Uint256Field


class Version(models.Model):
    chain_id = models.PositiveBigIntegerField()
    block_from = models.PositiveBigIntegerField()
    log_from = models.PositiveIntegerField()
    block_to = models.PositiveBigIntegerField(null=True)

    class Meta:
        abstract = True


class ParticipantVersion(Version):
    account = models.CharField(max_length=42)
    roles = models.PositiveIntegerField()
    active = models.BooleanField()
    profile_hash = models.CharField(max_length=66)
    acceptance_policy = models.CharField(max_length=66, blank=True)

    class Meta:
        indexes = [models.Index(fields=["chain_id", "account", "block_to"])]

    def __str__(self) -> str:
        return f"participant {self.account} from block {self.block_from}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


class LotVersion(Version):
    lot_id = Uint256Field()
    kind = models.PositiveSmallIntegerField()
    creator = models.CharField(max_length=42)
    quantity = Uint256Field()
    metadata_hash = models.CharField(max_length=66)
    gs1_key_hash = models.CharField(max_length=66)
    quarantined = models.BooleanField(default=False)
    quarantine_reason = models.TextField(blank=True)
    # Who set the current quarantine: only it, an auditor or an admin may lift it.
    quarantined_by = models.CharField(max_length=42, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "lot_id", "block_to"]),
            # an organisation's own lots (its stock scope: search, lists, traces)
            models.Index(fields=["chain_id", "creator"]),
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id} from block {self.block_from}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


class Balance(Version):
    lot_id = Uint256Field()
    holder = models.CharField(max_length=42)
    quantity = Uint256Field()

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "lot_id", "holder", "block_to"]),
            models.Index(fields=["chain_id", "holder", "block_to"]),
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id} held by {self.holder}: {self.quantity}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


class HandoffVersion(Version):
    handoff_id = Uint256Field()
    lot_id = Uint256Field()
    sender = models.CharField(max_length=42)
    receiver = models.CharField(max_length=42)
    quantity = Uint256Field()
    escrow = models.CharField(max_length=42)
    status = models.CharField(max_length=16)  # open, accepted, rejected, cancelled
    reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "handoff_id", "block_to"]),
            # the handoffs an organisation sent or was offered (its stock scope)
            models.Index(fields=["chain_id", "sender"]),
            models.Index(fields=["chain_id", "receiver"]),
        ]

    def __str__(self) -> str:
        return f"handoff {self.handoff_id} ({self.status}) from block {self.block_from}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


class BundleContent(Version):
    bundle_id = Uint256Field()
    lot_id = Uint256Field()
    quantity = Uint256Field()

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "bundle_id", "block_to"]),
            # Downstream traces walk from a lot to the bundles that held it.
            models.Index(fields=["chain_id", "lot_id"]),
        ]

    def __str__(self) -> str:
        return f"bundle {self.bundle_id} holds lot {self.lot_id}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


class TransformationEdge(Version):
    """input -> output of one transformation (never closed: a transformation is history)."""

    transformation_id = Uint256Field()
    actor = models.CharField(max_length=42)
    input_lot = Uint256Field()
    input_quantity = Uint256Field()
    output_lot = Uint256Field()
    output_quantity = Uint256Field()
    process_hash = models.CharField(max_length=66)

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "input_lot"]),
            models.Index(fields=["chain_id", "output_lot"]),
        ]

    def __str__(self) -> str:
        edge = f"lot {self.input_lot} -> lot {self.output_lot}"
        return f"transformation {self.transformation_id}: {edge}"


class CertificateVersion(Version):
    certificate_id = Uint256Field()
    subject_kind = models.PositiveSmallIntegerField()
    subject = Uint256Field()
    certificate_type = models.CharField(max_length=66)
    issuer = models.CharField(max_length=42)
    document_hash = models.CharField(max_length=66)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    claims = models.JSONField()
    revoked = models.BooleanField(default=False)
    revoke_reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["chain_id", "subject_kind", "subject", "block_to"]),
            # a certificate's versions (revocation, the warehouse's lifecycle facts)
            models.Index(fields=["chain_id", "certificate_id", "block_to"]),
        ]

    def __str__(self) -> str:
        return f"certificate {self.certificate_id} from block {self.block_from}" + (
            " (current)" if self.block_to is None else f" (until block {self.block_to})"
        )


VERSIONED = (
    ParticipantVersion,
    LotVersion,
    Balance,
    HandoffVersion,
    BundleContent,
    TransformationEdge,
    CertificateVersion,
)
