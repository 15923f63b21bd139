"""Write a Besu QBFT genesis for the Provenant network and its validators' node keys.

Free gas (``zeroBaseFee``, nodes run with ``--min-gas-price=0``), the Cancun milestone from
block 0 (the contracts are compiled for ``cancun``), 2-second blocks, and the validators
encoded in ``extraData`` as QBFT expects: RLP([32-byte vanity, [validators], [] (no vote),
round 0, [] (no seals)]).

    python deploy/besu/make_genesis.py --validators 4 --out var/besu

writes ``genesis.json`` and ``validator-N/key`` (a node's private key: keep it on that node
only) under ``--out``. ``--validator-address`` (repeatable) uses existing validators' addresses
instead of generating keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import rlp
from eth_account import Account

CHAIN_ID = 1337
BLOCK_PERIOD_SECONDS = 2
GAS_LIMIT = 0x1FFFFFFFFFFFFF  # the block gas limit; gas is free, so this bounds work per block


def qbft_extra_data(validators: list[str]) -> str:
    vanity = b"\0" * 32
    encoded = rlp.encode([vanity, [bytes.fromhex(v[2:]) for v in validators], [], b"", []])
    return "0x" + encoded.hex()


def genesis(validators: list[str], chain_id: int = CHAIN_ID) -> dict[str, Any]:
    return {
        "config": {
            "chainId": chain_id,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "contractSizeLimit": 24576,
            "qbft": {
                "blockperiodseconds": BLOCK_PERIOD_SECONDS,
                "epochlength": 30000,
                "requesttimeoutseconds": 4,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(GAS_LIMIT),
        "difficulty": "0x1",
        "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {},
        "extraData": qbft_extra_data(validators),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a Besu QBFT genesis for Provenant.")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--validator-address", action="append", default=[])
    parser.add_argument("--chain-id", type=int, default=CHAIN_ID)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    addresses = [a.lower() for a in args.validator_address]
    if not addresses:
        for n in range(1, args.validators + 1):
            account = Account.create()
            node_dir = args.out / f"validator-{n}"
            node_dir.mkdir(exist_ok=True)
            fd = os.open(node_dir / "key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(account.key.hex())
            addresses.append(account.address.lower())
    doc = genesis(sorted(addresses), args.chain_id)
    (args.out / "genesis.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"genesis for {len(addresses)} validators: {args.out / 'genesis.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
