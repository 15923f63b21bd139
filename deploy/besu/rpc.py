"""JSON-RPC calls of the day-2 commands: printed as curl lines an operator can run on each
node, and sent (with `--rpc`) through `post`, the one function that touches the network."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class RpcError(RuntimeError):
    """A node could not be reached, or answered with an error."""


@dataclass(frozen=True)
class Call:
    """One JSON-RPC call on one node."""

    node: str
    url: str
    method: str
    params: list[Any]
    #: Where to run the curl line (validators answer on their own 127.0.0.1 only).
    host: str = ""

    def payload(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": self.method, "params": self.params, "id": 1}

    def curl(self) -> str:
        body = json.dumps(self.payload(), separators=(",", ":"))
        return f"curl -s -X POST -H 'Content-Type: application/json' --data '{body}' {self.url}"


def post(url: str, payload: dict[str, Any], timeout: float = 10.0) -> Any:
    """POST one JSON-RPC request; its result, or RpcError."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RpcError(f"{url}: {payload['method']} failed: {exc}") from None
    if not isinstance(answer, dict):
        raise RpcError(f"{url}: {payload['method']}: not a JSON-RPC answer: {answer!r}")
    if "error" in answer:
        raise RpcError(f"{url}: {payload['method']}: {answer['error']}")
    return answer.get("result")


def send(call: Call) -> Any:
    return post(call.url, call.payload())
