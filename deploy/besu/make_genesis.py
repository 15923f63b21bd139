"""The Besu QBFT genesis of a Provenant network.

Free gas (``zeroBaseFee``; nodes run with ``min-gas-price=0``), the Berlin, London, Shanghai
and Cancun milestones from block 0 (the contracts are compiled for ``cancun``), and the
validators encoded in ``extraData`` as QBFT expects:
RLP([32-byte vanity, [validators], [] (no vote), round 0, [] (no seals)]).

Block-period changes are QBFT ``transitions`` keyed by block number: transitions keyed by
timestamp did not change the block period in Besu (besu-eth/besu#9681).

`python -m deploy.besu generate` writes the genesis with the rest of the network; it is
written once, when the network starts: a genesis with other validators is another chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp

CHAIN_ID = 1337
BLOCK_PERIOD_SECONDS = 2
EPOCH_LENGTH = 30000
REQUEST_TIMEOUT_SECONDS = 4
GAS_LIMIT = 0x1FFFFFFFFFFFFF  # the block gas limit; gas is free, so this bounds work per block
#: Besu's QBFT/IBFT genesis mixHash ("Istanbul BFT" magic).
MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"


def qbft_extra_data(validators: list[str]) -> str:
    vanity = b"\0" * 32
    encoded: bytes = rlp.encode([vanity, [bytes.fromhex(v[2:]) for v in validators], [], b"", []])
    return "0x" + encoded.hex()


def genesis(
    validators: list[str],
    chain_id: int = CHAIN_ID,
    *,
    block_period_seconds: int = BLOCK_PERIOD_SECONDS,
    empty_block_period_seconds: int = 0,
    epoch_length: int = EPOCH_LENGTH,
    request_timeout_seconds: int = REQUEST_TIMEOUT_SECONDS,
    block_period_transitions: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    """The genesis document for `validators` (0x addresses; they are sorted here, as Besu's
    `rlp encode` expects). `block_period_transitions` is [(block number, seconds)]."""
    qbft: dict[str, int] = {
        "blockperiodseconds": block_period_seconds,
        "epochlength": epoch_length,
        "requesttimeoutseconds": request_timeout_seconds,
    }
    if empty_block_period_seconds:
        qbft["emptyblockperiodseconds"] = empty_block_period_seconds
    config: dict[str, Any] = {
        "chainId": chain_id,
        "berlinBlock": 0,
        "londonBlock": 0,
        "shanghaiTime": 0,
        "cancunTime": 0,
        "zeroBaseFee": True,
        "contractSizeLimit": 24576,
        "qbft": qbft,
    }
    if block_period_transitions:
        config["transitions"] = {
            "qbft": [
                {"block": block, "blockperiodseconds": seconds}
                for block, seconds in block_period_transitions
            ]
        }
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(GAS_LIMIT),
        "difficulty": "0x1",
        "mixHash": MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {},
        "extraData": qbft_extra_data(sorted(v.lower() for v in validators)),
    }
