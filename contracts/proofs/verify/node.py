"""The node asked with --rpc: the only network access of the verifier."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from contracts.proofs.verify.report import NodeUnavailable


class Node:
    """The few JSON-RPC calls --rpc needs, over urllib (answers cached per run)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._cache: dict[tuple[str, str], Any] = {}

    def call(self, method: str, *params: Any) -> Any:
        key = (method, json.dumps(params))
        if key not in self._cache:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            request = urllib.request.Request(
                self.url, body.encode(), {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    answer = json.loads(response.read())
            except (OSError, ValueError) as exc:
                raise NodeUnavailable(f"the node at {self.url} did not answer: {exc}") from exc
            if answer.get("error"):
                raise NodeUnavailable(f"the node at {self.url} refused {method}: {answer['error']}")
            self._cache[key] = answer.get("result")
        return self._cache[key]

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_hash(self, number: int) -> str | None:
        block = self.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"]).lower()

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)
