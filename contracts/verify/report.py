"""What a verification found: the facts checked, the recomputed summary and the notes on
what the document states but cannot prove."""

from __future__ import annotations

from dataclasses import dataclass, field


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
        if self.ok:
            lines.append(f"VALID: {len(self.facts)} facts proven")
        else:
            lines.append(f"REJECTED: {len(self.rejected)} of {len(self.facts)} facts failed")
        return "\n".join(lines)


class MalformedProof(ValueError):
    """A field is missing or not of the expected shape."""


class NodeUnavailable(RuntimeError):
    """The node given with --rpc did not answer (or answered with an error)."""
