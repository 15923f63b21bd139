"""``provenant-verify FILE [--rpc URL] [--chain-id N] [--abi FILE]``, the console script
installed with the package, or ``python -m contracts.proofs.verify`` with the same arguments.
The exit status is 0 when every check passed, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.proofs.safe_json import JsonRefused, json_loads_bounded
from contracts.proofs.verify import verify_document

#: A pack of a 2,000-fact lineage is a few MB; nothing the app writes nests deeper than this.
MAX_PACK_BYTES = 64 * 2**20
MAX_PACK_DEPTH = 64


def _load_abi(path: Path) -> list[dict[str, Any]]:
    raw = json.loads(path.read_text())
    abi = raw["abi"] if isinstance(raw, dict) else raw
    if not isinstance(abi, list):
        raise ValueError("expected a JSON ABI (a list) or an artifact with an 'abi' list")
    return abi


SCRIPT = "provenant-verify"


def main(argv: list[str] | None = None) -> int:
    invoked = Path(sys.argv[0]).name
    parser = argparse.ArgumentParser(
        prog=SCRIPT if invoked == SCRIPT else "python -m contracts.proofs.verify",
        description="Check a Provenant proof document or evidence pack.",
    )
    parser.add_argument("proof", type=Path, help="proof document or evidence pack (JSON)")
    parser.add_argument("--rpc", help="a node of the chain: also check the block is canonical")
    parser.add_argument("--chain-id", type=int, help="the chain the proof must be about")
    parser.add_argument(
        "--abi",
        type=Path,
        action="append",
        help="trusted contract ABI or artifact (JSON) that pins event argument names; "
        "repeat for several contracts",
    )
    args = parser.parse_args(argv)
    try:
        doc = json_loads_bounded(
            args.proof.read_bytes(), max_bytes=MAX_PACK_BYTES, max_depth=MAX_PACK_DEPTH
        )
        abi = [f for path in args.abi for f in _load_abi(path)] if args.abi else None
    except (OSError, JsonRefused, ValueError, KeyError) as exc:
        print(f"REJECTED  cannot read the input: {exc}")
        return 1
    report = verify_document(doc, rpc_url=args.rpc, chain_id=args.chain_id, abi=abi)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
