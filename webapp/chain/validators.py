"""Who proposes the blocks: Besu's `qbft_getSignerMetrics` (per validator, the blocks it
proposed among the last 100 and the number of the last one), for on-call's "a validator
has stopped proposing" alert. Other nodes (anvil in development) do not have the method:
then there is nothing to report."""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class SignerMetric:
    validator: str
    proposed_blocks: int
    last_proposed_block: int


def signer_metrics(url: str, *, timeout: float = 3.0) -> list[SignerMetric]:
    """The node's signer metrics over its default window (the last 100 blocks); [] from a
    node without the QBFT API. Raises requests' errors when the node does not answer."""
    answer = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "qbft_getSignerMetrics", "params": []},
        timeout=timeout,
    )
    answer.raise_for_status()
    body = answer.json()
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        return []  # "method not found", or a node that speaks no QBFT
    return [
        SignerMetric(
            validator=str(item["address"]).lower(),
            proposed_blocks=int(str(item["proposedBlockCount"]), 16),
            last_proposed_block=int(str(item["lastProposedBlockNumber"]), 16),
        )
        for item in body["result"]
        if isinstance(item, dict)
    ]
