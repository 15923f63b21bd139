"""What a verification found: the facts checked, the recomputed summary and the notes on
what the document states but cannot prove."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fact:
    """One checked claim: `subject` says which proof (``""``, ``anchor``, ``proofs[2]``)."""

    subject: str
    name: str
    ok: bool
    reason: str

    def __str__(self) -> str:
        where = f"{self.subject} " if self.subject else ""
        return f"{'valid' if self.ok else 'REJECTED'}  {where}{self.name}: {self.reason}"


@dataclass
class VerificationReport:
    """Every fact checked, in order; the document is valid when all of them hold."""

    facts: list[Fact] = field(default_factory=list)
    #: An evidence pack's summary as rebuilt from its proven facts alone (None otherwise).
    recomputed: dict[str, Any] | None = None
    #: What the document states that no proof covers (names, holders, its date).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.facts) and all(f.ok for f in self.facts)

    @property
    def rejected(self) -> list[Fact]:
        return [f for f in self.facts if not f.ok]

    def reasons(self) -> list[str]:
        """The reasons of the rejected facts (empty when the document is valid)."""
        return [f.reason for f in self.rejected]

    def summary(self) -> str:
        lines = [str(f) for f in self.facts]
        lines += [f"note   {note}" for note in self.notes]
        if self.ok:
            lines.append(f"VALID: {len(self.facts)} facts proven")
        else:
            lines.append(f"REJECTED: {len(self.rejected)} of {len(self.facts)} facts failed")
        return "\n".join(lines)


class MalformedProof(ValueError):
    """A field is missing or not of the expected shape."""


class NodeUnavailable(RuntimeError):
    """The node given with --rpc did not answer (or answered with an error)."""


@dataclass(frozen=True)
class ProvenEvent:
    """An event whose proof held: the log's decoded args and where the chain put it."""

    subject: str  # which proof of the document (``proofs[3]``)
    chain_id: int
    contract: str
    event: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    timestamp: int  # the block header's
    transaction_hash: str
    log_index: int
    fragment: dict[str, Any]  # the ABI fragment the proof decoded the log with


@dataclass(frozen=True)
class ProvenItem:
    """An item whose anchored-item proof held: it is in a batch whose root was anchored."""

    subject: str  # which proof of the document (``proofs[3]``)
    item: Any
    root: str
    kind: str  # the anchor's bytes32 kind, 0x-hex
    anchor: ProvenEvent  # the proven RootAnchored log
