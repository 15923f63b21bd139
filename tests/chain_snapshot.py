"""A chain state kept as an anvil snapshot, to return to before each test (or module).

Deploying the system costs seconds; reverting anvil to a snapshot costs milliseconds. A
test that changes the node's mining mode or leaves transactions in its pool gets both
reset by `rewind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import HTTPProvider, Web3

from deploy.local.node import AnvilNode


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    return response["result"]


@dataclass
class ChainSnapshot:
    """An anvil node and a snapshot of its state to return to before each test."""

    node: AnvilNode
    snapshot: str = ""
    w3: Web3 = field(init=False)

    def __post_init__(self) -> None:
        # A client of its own: tests replace their client's make_request.
        self.w3 = Web3(HTTPProvider(self.node.url, request_kwargs={"timeout": 30}))

    def take(self) -> None:
        self.snapshot = rpc(self.w3, "evm_snapshot")

    def rewind(self) -> None:
        """Back to the snapshot, with instant mining and an empty pool. Anvil consumes a
        snapshot when it reverts to it, so a new one is taken at once."""
        rpc(self.w3, "anvil_dropAllTransactions")
        rpc(self.w3, "evm_setAutomine", True)
        if not rpc(self.w3, "evm_revert", self.snapshot):
            raise RuntimeError(f"anvil has no snapshot {self.snapshot}")
        self.take()
