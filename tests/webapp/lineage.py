"""Hand-built lineage graphs: projection rows written directly, with known answers.

The projections are what the projector would write for the same events; building them by
hand lets a test state a graph (diamonds, nested bundles, partial quantities) in a few
lines and check traces and roll-ups against numbers worked out on paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.chain.domain import LotKind, ascii32
from webapp.chain.models import Block
from webapp.projections.models import (
    Balance,
    BundleContent,
    CertificateVersion,
    LotVersion,
    TransformationEdge,
)

CHAIN = 1337
GENESIS = datetime(2026, 1, 1, tzinfo=UTC)
MINE = "0x" + "11" * 20
REFINERY = "0x" + "22" * 20
FACTORY = "0x" + "33" * 20
CERTIFIER = "0x" + "44" * 20


def block_time(number: int) -> datetime:
    """Blocks are one day apart in a hand-built graph."""
    return GENESIS + timedelta(days=number)


def claim_key(name: str) -> str:
    return "0x" + ascii32(name).hex()


@dataclass
class Graph:
    chain_id: int = CHAIN
    log: int = 0
    certificates: int = 0
    transformations: int = 0
    blocks: set[int] = field(default_factory=set)

    def _at(self, block: int) -> dict[str, Any]:
        self.log += 1
        if block not in self.blocks:
            self.blocks.add(block)
            Block.objects.create(
                chain_id=self.chain_id,
                number=block,
                hash=f"0x{block:064x}",
                parent_hash=f"0x{block - 1:064x}",
                timestamp=block_time(block),
            )
        return {"chain_id": self.chain_id, "block_from": block, "log_from": self.log}

    def lot(
        self, lot_id: int, quantity: int, *, block: int, holder: str = MINE, kind: int = 1
    ) -> int:
        LotVersion.objects.create(
            **self._at(block),
            lot_id=lot_id,
            kind=kind,
            creator=holder,
            quantity=quantity,
            metadata_hash="0x" + "00" * 32,
            gs1_key_hash="0x" + "00" * 32,
        )
        Balance.objects.create(**self._at(block), lot_id=lot_id, holder=holder, quantity=quantity)
        return lot_id

    def transform(
        self,
        inputs: dict[int, int],
        outputs: dict[int, int],
        *,
        block: int,
        holder: str = REFINERY,
        kind: int = LotKind.COMPONENT,
    ) -> int:
        self.transformations += 1
        for out, quantity in outputs.items():
            self.lot(out, quantity, block=block, holder=holder, kind=kind)
        at = self._at(block)
        for source, consumed in inputs.items():
            for out, produced in outputs.items():
                TransformationEdge.objects.create(
                    **at,
                    transformation_id=self.transformations,
                    actor=holder,
                    input_lot=source,
                    input_quantity=consumed,
                    output_lot=out,
                    output_quantity=produced,
                    process_hash="0x" + "00" * 32,
                )
        return self.transformations

    def bundle(
        self, bundle_id: int, contents: dict[int, int], *, block: int, until: int | None = None
    ) -> int:
        self.lot(bundle_id, 1, block=block, holder=FACTORY, kind=LotKind.BUNDLE)
        at = self._at(block)
        for lot_id, quantity in contents.items():
            BundleContent.objects.create(
                **at, block_to=until, bundle_id=bundle_id, lot_id=lot_id, quantity=quantity
            )
        return bundle_id

    def certify(
        self,
        lot_id: int,
        *,
        block: int,
        kind: str = "CARBON_FOOTPRINT",
        claims: dict[str, int] | None = None,
        revoked_at: int | None = None,
        days: int = 365,
    ) -> int:
        self.certificates += 1
        fields: dict[str, Any] = {
            "certificate_id": self.certificates,
            "subject_kind": 1,
            "subject": lot_id,
            "certificate_type": claim_key(kind),
            "issuer": CERTIFIER,
            "document_hash": "0x" + "00" * 32,
            "valid_from": block_time(block),
            "valid_until": block_time(block) + timedelta(days=days),
            "claims": {claim_key(k): v for k, v in (claims or {}).items()},
        }
        at = self._at(block)
        if revoked_at is None:
            CertificateVersion.objects.create(**at, **fields)
        else:
            CertificateVersion.objects.create(**at, block_to=revoked_at, **fields)
            CertificateVersion.objects.create(
                **self._at(revoked_at), **fields, revoked=True, revoke_reason="withdrawn"
            )
        return self.certificates
