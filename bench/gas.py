"""Gas used by each business operation, measured on a fresh local node.

Prints one line per operation (``name: N gas``), the same figure for a plain OpenZeppelin
ERC-1155 transfer to a new holder, and last ``handoff_vs_erc1155: R`` where
R = (initiate + accept) / plain transfer. Steady state is measured: the handoff and
transformation counters are already non-zero, as on any chain in use.

    python bench/gas.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3

from contracts.chain.artifacts import load
from contracts.chain.client import LocalSigner, send_transaction, transact
from contracts.chain.deploy import deploy_system
from contracts.chain.domain import LotKind, Role, SubjectKind, ascii32
from deploy.local.node import AnvilNode


def main() -> None:
    with AnvilNode() as node, _tmpdir() as tmp:
        w3 = Web3(Web3.HTTPProvider(node.url))
        admin, miner, maker, dist, certifier = (LocalSigner.create() for _ in range(5))
        _, system, _ = deploy_system(w3, admin, directory=tmp)
        lots = system.lots
        for who, roles in (
            (miner, Role.MINER),
            (maker, Role.MANUFACTURER),
            (dist, Role.DISTRIBUTOR),
            (certifier, Role.CERTIFIER),
        ):
            transact(
                w3, admin, lots.functions.registerParticipant(who.address, int(roles), b"\0" * 32)
            )

        def gas(signer: LocalSigner, call) -> int:  # type: ignore[no-untyped-def]
            return int(transact(w3, signer, call)["gasUsed"])

        h = b"\x11" * 32
        figures: dict[str, int] = {}
        # Warm-up: the first handoff and transformation ever set their counters from zero.
        gas(miner, lots.functions.registerLot(1, 10**6, LotKind.RAW_MATERIAL, h, h))
        gas(miner, lots.functions.initiateHandoff(1, maker.address, 1))
        gas(maker, lots.functions.acceptHandoff(1, 1, miner.address, maker.address))
        gas(maker, lots.functions.transform([1], [1], [(2, 1, LotKind.COMPONENT, h, h)], h))

        figures["register_lot"] = gas(
            miner, lots.functions.registerLot(100, 10**6, LotKind.RAW_MATERIAL, h, h)
        )
        figures["handoff_initiate"] = gas(
            miner, lots.functions.initiateHandoff(100, maker.address, 4000)
        )
        figures["handoff_accept"] = gas(
            maker, lots.functions.acceptHandoff(2, 100, miner.address, maker.address)
        )

        ids = list(range(200, 210))
        for lot_id in ids:
            gas(maker, lots.functions.registerLot(lot_id, 1000, LotKind.COMPONENT, h, h))
        figures["bundle_10_lots"] = gas(maker, lots.functions.bundle(300, ids, [1000] * 10, h, h))
        figures["unbundle_10_lots"] = gas(maker, lots.functions.unbundle(300, ids, [1000] * 10))

        outputs = [(400, 500, LotKind.PRODUCT, h, h), (401, 500, LotKind.PRODUCT, h, h)]
        figures["transform_5_in_2_out"] = gas(
            maker, lots.functions.transform(ids[:5], [10] * 5, outputs, h)
        )
        figures["certificate_issue"] = gas(
            certifier,
            system.certificates.functions.issue(
                SubjectKind.LOT, 100, ascii32("CARBON_FOOTPRINT"), h, 0, 2**40 - 1,
                [ascii32("CO2E_G_PER_UNIT"), ascii32("RECYCLED_PERMILLE")], [1250, 180],
            ),
        )  # fmt: skip
        # A renewal issued in advance: the issue prunes and keeps the current one live.
        figures["certificate_issue_renewal"] = gas(
            certifier,
            system.certificates.functions.issue(
                SubjectKind.LOT, 100, ascii32("CARBON_FOOTPRINT"), h, 2**39, 2**40 - 1, [], [],
            ),
        )  # fmt: skip
        # Acceptance with a policy: the check reads the lot's live certificates.
        gas(dist, lots.functions.setAcceptancePolicy(ascii32("CARBON_FOOTPRINT")))
        gas(maker, lots.functions.initiateHandoff(100, dist.address, 1000))
        figures["handoff_accept_with_policy"] = gas(
            dist, lots.functions.acceptHandoff(3, 100, maker.address, dist.address)
        )
        figures["quarantine_set"] = gas(certifier, lots.functions.setQuarantine(100, "bench"))
        figures["quarantine_clear"] = gas(certifier, lots.functions.clearQuarantine(100, "bench"))
        figures["anchor"] = gas(
            dist,
            system.anchors.functions.anchor(h, ascii32("SENSOR_READINGS"), 1000, "s3://batch/1"),
        )

        plain_artifact = load("PlainERC1155")
        receipt = send_transaction(w3, admin, data=plain_artifact.bytecode)
        assert not isinstance(receipt, str)
        plain = w3.eth.contract(address=receipt["contractAddress"], abi=plain_artifact.abi)
        gas(admin, plain.functions.mint(miner.address, 7, 10**6))
        figures["erc1155_safeTransferFrom_new_holder"] = gas(
            miner, plain.functions.safeTransferFrom(miner.address, maker.address, 7, 4000, b"")
        )

    for name, value in figures.items():
        print(f"{name}: {value} gas")
    ratio = (figures["handoff_initiate"] + figures["handoff_accept"]) / figures[
        "erc1155_safeTransferFrom_new_holder"
    ]
    print(f"handoff_vs_erc1155: {ratio:.2f}")


class _tmpdir:
    def __enter__(self) -> Path:
        import tempfile

        self._d = tempfile.TemporaryDirectory()
        return Path(self._d.name)

    def __exit__(self, *exc: object) -> None:
        self._d.cleanup()


if __name__ == "__main__":
    main()
