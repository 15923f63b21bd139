"""The committed compiler artifacts, loaded once per process."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from contracts.chain.compile import ARTIFACT_DIR

#: The contracts a deployment consists of, in deployment order.
SYSTEM_CONTRACTS = ("Lots", "Certificates", "Anchors")


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    source_hash: str

    @property
    def hash(self) -> str:
        """sha256 of the creation bytecode; the deployment manifest records it."""
        return "0x" + hashlib.sha256(bytes.fromhex(self.bytecode[2:])).hexdigest()


def abi_type(item: dict[str, Any]) -> str:
    """The canonical ABI type of an input (tuples spelled out), as in signatures."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


@functools.cache
def load(name: str) -> Artifact:
    """Load `contracts/artifacts/<name>.json`; raises FileNotFoundError for an unknown name."""
    raw = json.loads((ARTIFACT_DIR / f"{name}.json").read_text())
    return Artifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        compiler_version=raw["compiler"]["version"],
        source_hash=raw["sourceHash"],
    )
