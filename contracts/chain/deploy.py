"""Deploy the system's contracts with raw signed transactions and keep a manifest per chain.

The manifest (``<deployments dir>/<chain id>.json``) records each contract's address,
deployment block and transaction, the hash of the artifact it was built from, and the hash
of the code found on chain. Deploying is idempotent: a contract whose manifest entry still
matches the chain (same chain by genesis hash, code present with the recorded hash,
artifact unchanged) is reused; anything missing is deployed; the manifest is rewritten
after every step, so an interrupted deployment resumes where it stopped.

``python -m contracts.chain.deploy [--rpc URL] [--key-file FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from contracts.chain import settings
from contracts.chain.artifacts import SYSTEM_CONTRACTS, load
from contracts.chain.client import (
    LocalSigner,
    Signer,
    SystemContracts,
    bind_system,
    get_web3,
    send_transaction,
    transact,
)

#: Two days, as a consortium would want before a new default admin can take over.
DEFAULT_ADMIN_TRANSFER_DELAY = 2 * 24 * 3600


class DeploymentError(RuntimeError):
    """The manifest and the chain disagree in a way that needs a person to decide."""


@dataclass
class Manifest:
    chain_id: int
    genesis_hash: str
    deployer: str
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def deployment_block(self) -> int:
        """The first block an indexer must read: the earliest contract's deployment block."""
        return min(int(c["blockNumber"]) for c in self.contracts.values())

    @property
    def addresses(self) -> dict[str, str]:
        return {name: str(c["address"]) for name, c in self.contracts.items()}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "chainId": self.chain_id,
            "genesisHash": self.genesis_hash,
            "deployer": self.deployer,
            "contracts": self.contracts,
        }
        if self.contracts:
            body["deploymentBlock"] = self.deployment_block
        return body

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Manifest:
        return cls(
            chain_id=int(raw["chainId"]),
            genesis_hash=str(raw["genesisHash"]),
            deployer=str(raw["deployer"]),
            contracts=dict(raw["contracts"]),
        )


def manifest_path(chain_id: int, directory: Path | None = None) -> Path:
    return (directory or settings.deployments_dir()) / f"{chain_id}.json"


def read_manifest(chain_id: int, directory: Path | None = None) -> Manifest | None:
    path = manifest_path(chain_id, directory)
    if not path.is_file():
        return None
    return Manifest.from_json(json.loads(path.read_text()))


def _write_manifest(manifest: Manifest, directory: Path | None) -> Path:
    path = manifest_path(manifest.chain_id, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a crash never leaves half a manifest
    return path


def _code_hash(w3: Web3, address: str) -> str | None:
    code = w3.eth.get_code(Web3.to_checksum_address(address))
    return Web3.keccak(code).to_0x_hex() if len(code) else None


def _still_deployed(w3: Web3, name: str, entry: dict[str, Any]) -> bool:
    if entry.get("artifactHash") != load(name).hash:
        return False
    return _code_hash(w3, entry["address"]) == entry.get("codeHash")


def _constructor_args(name: str, admin: str, addresses: dict[str, str], delay: int) -> list[Any]:
    if name == "Lots":
        return [admin, delay]
    return [Web3.to_checksum_address(addresses["Lots"])]


def deploy_system(
    w3: Web3,
    deployer: Signer,
    *,
    directory: Path | None = None,
    admin_transfer_delay: int = DEFAULT_ADMIN_TRANSFER_DELAY,
) -> tuple[Manifest, SystemContracts, list[str]]:
    """Deploy what is missing, wire the contracts together and return the manifest, the
    bound contracts and the names of the contracts deployed by this call (empty when
    everything was reused).

    The deployer becomes the consortium's default admin and holds ADMIN_ROLE.
    """
    chain_id = w3.eth.chain_id
    genesis_hash = w3.eth.get_block(0)["hash"].to_0x_hex()
    manifest = read_manifest(chain_id, directory)
    if manifest is not None and manifest.genesis_hash != genesis_hash:
        # Same chain id, different chain (e.g. a development node started afresh).
        manifest = None
    if manifest is None:
        manifest = Manifest(chain_id, genesis_hash, deployer.address)

    deployed: list[str] = []
    for name in SYSTEM_CONTRACTS:
        entry = manifest.contracts.get(name)
        if entry is not None and _still_deployed(w3, name, entry) and not deployed:
            continue
        # Anything after a (re)deployed contract is redeployed too: it points at it.
        artifact = load(name)
        ctor = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(
            *_constructor_args(name, deployer.address, manifest.addresses, admin_transfer_delay)
        )
        receipt = send_transaction(w3, deployer, data=ctor.data_in_transaction)
        assert not isinstance(receipt, str)
        address = receipt["contractAddress"]
        if address is None:
            raise DeploymentError(f"{name}: the receipt names no contract address")
        manifest.contracts[name] = {
            "address": address,
            "blockNumber": receipt["blockNumber"],
            "transactionHash": receipt["transactionHash"].to_0x_hex(),
            "artifactHash": artifact.hash,
            "sourceHash": artifact.source_hash,
            "compiler": artifact.compiler_version,
            "codeHash": _code_hash(w3, address),
        }
        deployed.append(name)
        _write_manifest(manifest, directory)

    system = bind_system(w3, manifest.addresses)
    if system.lots.functions.certificates().call() != system.certificates.address:
        transact(
            w3, deployer, system.lots.functions.setCertificatesContract(system.certificates.address)
        )
    _write_manifest(manifest, directory)
    return manifest, system, deployed


def load_system(w3: Web3, directory: Path | None = None) -> tuple[Manifest, SystemContracts]:
    """The deployed system on `w3`'s chain, from its manifest; fails when not deployed."""
    chain_id = w3.eth.chain_id
    manifest = read_manifest(chain_id, directory)
    if manifest is None:
        raise DeploymentError(
            f"no deployment manifest for chain {chain_id} at {manifest_path(chain_id, directory)}:"
            " run `make deploy`"
        )
    return manifest, bind_system(w3, manifest.addresses)


def local_deployer_private_key(path: Path | None = None) -> bytes:
    """The development chain's deployer key: generated once into the data directory.

    Only the demo reads it raw, to import it into the operator's key store."""
    path = path or settings.data_dir() / "keys" / "deployer.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        account = Account.create()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(account.key.hex() + "\n")
    return bytes.fromhex(path.read_text().strip().removeprefix("0x"))


def local_deployer_key(path: Path | None = None) -> LocalSigner:
    """The development chain's deployer as a signer."""
    return LocalSigner.from_key(local_deployer_private_key(path))


def keystore_signer(path: Path, passphrase: str) -> LocalSigner:
    """A signer from an eth-account (scrypt) keystore file."""
    key = Account.decrypt(json.loads(path.read_text()), passphrase)
    return LocalSigner.from_key(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy (or verify) the Provenant contracts.")
    parser.add_argument("--rpc", default=None, help="JSON-RPC URL (default PROVENANT_RPC_URL)")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="deployer keystore JSON; passphrase from PROVENANT_DEPLOYER_PASSPHRASE."
        " Without it, only the local development chain is allowed (generated key).",
    )
    parser.add_argument("--admin-transfer-delay", type=int, default=DEFAULT_ADMIN_TRANSFER_DELAY)
    args = parser.parse_args(argv)
    w3 = get_web3(args.rpc)
    chain_id = w3.eth.chain_id
    if args.key_file is not None:
        deployer: Signer = keystore_signer(
            args.key_file, os.environ.get("PROVENANT_DEPLOYER_PASSPHRASE", "")
        )
    elif chain_id == settings.LOCAL_CHAIN_ID:
        deployer = local_deployer_key()
    else:
        print(f"chain {chain_id} is not the local chain: pass --key-file", file=sys.stderr)
        return 2
    manifest, _, deployed = deploy_system(
        w3, deployer, admin_transfer_delay=args.admin_transfer_delay
    )
    for name, entry in manifest.contracts.items():
        state = "deployed" if name in deployed else "reused"
        print(f"{name}: {entry['address']} (block {entry['blockNumber']}, {state})")
    print(f"manifest: {manifest_path(chain_id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
