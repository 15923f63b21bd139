"""Seed the local chain with a demo consortium and a realistic history.

A cobalt mine, a refinery, a chip manufacturer, a distributor, a retailer and a certifier
(plus an IoT reporter) are onboarded with keys generated into the data directory; then ore
lots are mined and certified, refined into cobalt, made into chips and packed on a
refrigerated pallet, which the distributor has handed off to the retailer: the retailer
has not accepted it yet (the demo's cold-chain story starts there). Idempotent: a chain
already seeded is left alone.

``python -m deploy.local.seed [--rpc URL]`` (after ``python -m contracts.chain.deploy``)
"""

from __future__ import annotations

import argparse
import sys

from web3 import Web3
from web3.logs import DISCARD

from contracts.chain import settings
from contracts.chain.client import LocalSigner, Signer, SystemContracts, get_web3, transact
from contracts.chain.deploy import load_system, local_deployer_key
from contracts.chain.domain import LotKind, Role, SubjectKind, ascii32, canonical_hash

ORGANISATIONS: dict[str, Role] = {
    "katanga-cobalt-mine": Role.MINER,
    "nordic-refinery": Role.MANUFACTURER,
    "silicon-works": Role.MANUFACTURER,
    "eurologistics": Role.DISTRIBUTOR,
    "city-electronics": Role.RETAILER,
    "trust-certification": Role.CERTIFIER,
    "coldchain-sensors": Role.REPORTER,
}


#: Handoffs the seeded history initiates; the last is the pallet's, left open.
SEEDED_HANDOFFS = 5
#: The refrigerated pallet and the chips lots on it.
PALLET = 401
PALLET_LOTS = [301, 302, 303]


class DemoSeedError(RuntimeError):
    """The chain holds part of the demo history: it cannot be completed safely."""


def org_key(name: str) -> LocalSigner:
    """The demo organisation's development key (generated once, kept in the data dir)."""
    return local_deployer_key(settings.data_dir() / "keys" / f"{name}.key")


#: The demo consortium's display names and the user name of each organisation's person.
DISPLAY: dict[str, tuple[str, str]] = {
    "katanga-cobalt-mine": ("Katanga Cobalt Mine", "mine"),
    "nordic-refinery": ("Nordic Refinery", "refinery"),
    "silicon-works": ("Silicon Works", "chips"),
    "eurologistics": ("EuroLogistics", "distributor"),
    "city-electronics": ("City Electronics", "retailer"),
    "trust-certification": ("Trust Certification", "certifier"),
    "coldchain-sensors": ("ColdChain Sensors", "sensors"),
}

#: Where each demo organisation works: its members read times in this zone.
TIME_ZONES: dict[str, str] = {
    "katanga-cobalt-mine": "Africa/Lubumbashi",
    "nordic-refinery": "Europe/Helsinki",
    "silicon-works": "Europe/Berlin",
    "eurologistics": "Europe/Amsterdam",
    "city-electronics": "Europe/London",
    "trust-certification": "Europe/Zurich",
    "coldchain-sensors": "UTC",
}
#: Each demo organisation's GS1 Company Prefix and GLN (fictitious, check digits valid): the
#: chips' GTINs and the pallet's SSCC start with their maker's prefix.
GS1_IDS: dict[str, tuple[str, str]] = {
    "katanga-cobalt-mine": ("6001234", "6001234000013"),
    "nordic-refinery": ("6412345", "6412345000012"),
    "silicon-works": ("4012345", "4012345000016"),
    "eurologistics": ("8712345", "8712345000011"),
    "city-electronics": ("5012345", "5012345000015"),
    "trust-certification": ("7612345", "7612345000015"),
    "coldchain-sensors": ("9501234", "9501234000015"),
}

#: The consortium operator's person: an auditor who reads across the consortium.
AUDITOR_LOGIN = "auditor"

#: Off-chain metadata documents of the seeded lots; the chain holds their canonical hashes.
LOT_DOCUMENTS: dict[int, dict[str, object]] = {
    101: {"name": "Cobalt ore, pit 3", "unit": "g", "kind": 1, "claims": {"co2e_g_per_unit": 3}},
    102: {"name": "Cobalt ore, pit 5", "unit": "g", "kind": 1, "claims": {"co2e_g_per_unit": 3}},
    201: {"name": "Refined cobalt", "unit": "g", "kind": 2, "process": "refining-run-1"},
    301: {"name": "Battery controller chip A", "unit": "piece", "kind": 3,
          "gtin": "4012345301014", "batch": "FAB7-A"},
    302: {"name": "Battery controller chip B", "unit": "piece", "kind": 3,
          "gtin": "4012345301021", "batch": "FAB7-B"},
    303: {"name": "Battery controller chip C", "unit": "piece", "kind": 3,
          "gtin": "4012345301038", "batch": "FAB7-C"},
    401: {"name": "Pallet 401", "unit": "bundle", "kind": 4, "sscc": "140123450000004011"},
}  # fmt: skip


def gs1_element_string(lot_id: int) -> str:
    """The seeded lot's GS1 key as the web app stores it: (01)GTIN-14(10)batch, (00)SSCC."""
    document = LOT_DOCUMENTS[lot_id]
    if document.get("gtin"):
        return f"(01){str(document['gtin']).zfill(14)}(10){document['batch']}"
    if document.get("sscc"):
        return f"(00){document['sscc']}"
    return ""


def lot_document(lot_id: int) -> dict[str, object]:
    return {**LOT_DOCUMENTS[lot_id], "lot_id": lot_id}


def _h(text: str) -> bytes:
    return Web3.keccak(text=text)


def _meta(lot_id: int) -> bytes:
    return bytes.fromhex(canonical_hash(lot_document(lot_id))[2:])


def seed(
    w3: Web3,
    admin: Signer,
    system: SystemContracts,
    orgs: dict[str, Signer] | None = None,
) -> list[str]:
    """Onboard the demo organisations and write the history; returns what it did.

    `orgs` holds each organisation's key store (default: development keys in the data dir).
    """
    orgs = orgs or {name: org_key(name) for name in ORGANISATIONS}
    lots = system.lots
    mine, shop = orgs["katanga-cobalt-mine"], orgs["city-electronics"]
    if lots.functions.isRegistered(mine.address).call():
        if lots.functions.counts().call()[0] >= SEEDED_HANDOFFS:  # the history's last step
            return []
        raise DemoSeedError(
            "a previous demo seed stopped half-way through; remove the data directory"
            " (make clean) and run the demo again"
        )
    done: list[str] = []
    for name, role in ORGANISATIONS.items():
        transact(
            w3,
            admin,
            lots.functions.registerParticipant(orgs[name].address, int(role), _h(name)),
        )
        done.append(f"onboarded {name} ({role.name}) as {orgs[name].address}")

    refinery, maker = orgs["nordic-refinery"], orgs["silicon-works"]
    dist = orgs["eurologistics"]
    certifier = orgs["trust-certification"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    year = 365 * 86_400

    def act(signer: Signer, call: object) -> None:
        transact(w3, signer, call)  # type: ignore[arg-type]

    # Ore from the mine, certified for responsible sourcing and its footprint.
    ore = [101, 102]
    for lot_id in ore:
        act(mine, lots.functions.registerLot(
            lot_id, 2_000_000, LotKind.RAW_MATERIAL, _meta(lot_id), _h(f"gs1-ore-{lot_id}")
        ))  # fmt: skip
        act(certifier, system.certificates.functions.issue(
            SubjectKind.LOT, lot_id, ascii32("CARBON_FOOTPRINT"), _h(f"cert-{lot_id}"),
            now - 86_400, now + year,
            [ascii32("CO2E_G_PER_UNIT"), ascii32("RECYCLED_PERMILLE")], [3, 0],
        ))  # fmt: skip
        handoff = _handoff(w3, system, mine, refinery, lot_id, 2_000_000)
        act(refinery, lots.functions.acceptHandoff(handoff, lot_id, mine.address, refinery.address))
    done.append("mined and certified ore lots 101, 102; handed to the refinery")

    # Refining: 4 t of ore into 400 kg of cobalt.
    act(refinery, lots.functions.transform(
        ore, [2_000_000, 2_000_000],
        [(201, 400_000, LotKind.COMPONENT, _meta(201), _h("gs1-cobalt-201"))],
        _h("refining-run-1"),
    ))  # fmt: skip
    handoff = _handoff(w3, system, refinery, maker, 201, 400_000)
    act(maker, lots.functions.acceptHandoff(handoff, 201, refinery.address, maker.address))
    done.append("refined ore into cobalt lot 201; handed to the chip manufacturer")

    # Chips, certified for quality, packed on a pallet.
    chips = [301, 302, 303]
    act(maker, lots.functions.transform(
        [201], [300_000],
        [(c, 1_000, LotKind.PRODUCT, _meta(c), _h(gs1_element_string(c))) for c in chips],
        _h("fab-run-7"),
    ))  # fmt: skip
    act(maker, lots.functions.bundle(
        401, chips, [1_000, 1_000, 1_000], _meta(401), _h(gs1_element_string(401))
    ))  # fmt: skip
    act(certifier, system.certificates.functions.issue(
        SubjectKind.LOT, 401, ascii32("QUALITY"), _h("qa-401"), now - 86_400, now + year, [], []
    ))  # fmt: skip
    done.append("made chips 301-303 from cobalt 201; packed pallet 401 (certified QUALITY)")

    # The retailer only accepts certified pallets; the distributor carries it there and
    # hands it off; the retailer has not accepted it yet.
    act(shop, lots.functions.setAcceptancePolicy(ascii32("QUALITY")))
    handoff = _handoff(w3, system, maker, dist, 401, 1)
    act(dist, lots.functions.acceptHandoff(handoff, 401, maker.address, dist.address))
    handoff = _handoff(w3, system, dist, shop, 401, 1)
    done.append(
        f"pallet 401: silicon-works -> eurologistics -> city-electronics (handoff {handoff},"
        " waiting for the retailer to accept it)"
    )
    return done


def _handoff(
    w3: Web3,
    system: SystemContracts,
    sender: Signer,
    receiver: Signer,
    lot_id: int,
    quantity: int,
) -> int:
    receipt = transact(
        w3, sender, system.lots.functions.initiateHandoff(lot_id, receiver.address, quantity)
    )
    (event,) = system.lots.events.HandoffInitiated().process_receipt(receipt, errors=DISCARD)
    return int(event["args"]["handoffId"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed the local chain with the demo consortium.")
    parser.add_argument("--rpc", default=None)
    args = parser.parse_args(argv)
    return _seed_and_report(get_web3(args.rpc))


def _seed_and_report(w3: Web3) -> int:
    if w3.eth.chain_id != settings.LOCAL_CHAIN_ID:
        print("the demo seeds only the local development chain", file=sys.stderr)
        return 2
    _, system = load_system(w3)
    done = seed(w3, local_deployer_key(), system)
    for line in done or ["demo consortium already seeded"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
