"""The files of a Besu QBFT network, rendered from its consortium and its node keys.

A network directory holds, at its root, consortium.toml (the record of the members),
genesis.json, static-nodes.json, permissions_config.toml and provenant.env (the app's
settings), and one directory per node, nodes/<slug>/, with everything that node needs:
config.toml, the same genesis, static nodes and permissions files, and its key. Copy a node's
directory to the node and start Besu from inside it: `besu --config-file=config.toml`
(paths in config.toml are relative to the working directory).

Everything but the genesis and the keys is derived: `render` rewrites it from the consortium
after any change, and writes nothing when nothing changed. The genesis is written once; the
validator set of a running network changes by votes (`deploy.besu.day2`), never by a new
genesis, which would be a new chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.besu import make_genesis
from deploy.besu.consortium import Consortium, ConsortiumError, Hsm, Member, to_doc
from deploy.besu.files import FileChanges, toml_dumps
from deploy.besu.keys import NodeKey, address_of, enode_url

CONSORTIUM = "consortium.toml"
GENESIS = "genesis.json"
STATIC_NODES = "static-nodes.json"
PERMISSIONS = "permissions_config.toml"
APP_ENV = "provenant.env"
PKCS11_CONFIG = "pkcs11.cfg"
HSM_PIN = "hsm-pin.txt"

#: API groups by role. Validators serve JSON-RPC on 127.0.0.1 only: QBFT for the validator
#: votes, PERM for the allow-list calls of the day-2 commands. Rpc nodes serve the app
#: (eth_sendRawTransaction, eth_getLogs, txpool_status) and PERM for their own allow-lists.
VALIDATOR_APIS = ["ETH", "NET", "QBFT", "PERM"]
RPC_APIS = ["ETH", "NET", "WEB3", "TXPOOL", "PERM"]


def node_dir(out: Path, slug: str) -> Path:
    return out / "nodes" / slug


def read_key(out: Path, member: Member) -> NodeKey:
    """The member's node key: its public half from the consortium for an HSM-held key, else
    the key file (which must exist)."""
    if member.public_key:
        return NodeKey(member.public_key)
    path = node_dir(out, member.slug) / "key"
    if not path.exists():
        raise ConsortiumError(f"member {member.slug!r}: its node key {path} is missing")
    return NodeKey.read(path)


def ensure_key(out: Path, member: Member, changes: FileChanges) -> NodeKey:
    """The member's node key, created (mode 0600) when it has none yet: an existing key is
    never replaced here, so generating twice gives the same network."""
    path = node_dir(out, member.slug) / "key"
    if member.public_key or path.exists():
        return read_key(out, member)
    key = NodeKey.create()
    changes.write(path, key.key_file_text(), private=True)
    return key


def enodes(c: Consortium, keys: dict[str, NodeKey]) -> list[str]:
    """Every node's enode URL, and during a key rotation the node's previous one as well."""
    found = []
    for m in c.members:
        found.append(enode_url(keys[m.slug].public_key, m.host, m.p2p_port))
        if m.previous_public_key:
            found.append(enode_url(m.previous_public_key, m.host, m.p2p_port))
    return found


def genesis_doc(c: Consortium, validators: list[str]) -> dict[str, Any]:
    return make_genesis.genesis(
        validators,
        c.chain_id,
        block_period_seconds=c.block_period_seconds,
        empty_block_period_seconds=c.empty_block_period_seconds,
        epoch_length=c.epoch_length,
        request_timeout_seconds=c.request_timeout_seconds,
        block_period_transitions=[(t.block, t.block_period_seconds) for t in c.transitions],
    )


def node_config(c: Consortium, m: Member) -> dict[str, Any]:
    """The node's Besu options (the keys of config.toml: every one is in options.BESU_OPTIONS)."""
    config: dict[str, Any] = {
        "genesis-file": GENESIS,
        "data-path": "data",
        "data-storage-format": "BONSAI",
        "sync-mode": "FULL",
        "bonsai-limit-trie-logs-enabled": False,
        "p2p-host": m.host,
        "p2p-port": m.p2p_port,
        "static-nodes-file": STATIC_NODES,
        "min-gas-price": 0,
        "rpc-http-enabled": True,
        "rpc-http-host": "127.0.0.1" if m.is_validator else "0.0.0.0",
        "rpc-http-port": m.rpc_port,
        "rpc-http-api": VALIDATOR_APIS if m.is_validator else RPC_APIS,
        "host-allowlist": list(dict.fromkeys(["localhost", "127.0.0.1", m.host, *m.rpc_allowlist])),
        "rpc-max-logs-range": c.rpc_max_logs_range,
        "metrics-enabled": True,
        "metrics-host": "0.0.0.0",
        "metrics-port": m.metrics_port,
        "permissions-nodes-config-file-enabled": True,
        "permissions-nodes-config-file": PERMISSIONS,
        "permissions-accounts-config-file-enabled": True,
        "permissions-accounts-config-file": PERMISSIONS,
    }
    if m.public_key:
        config.update(
            {
                "security-module": "hsm",
                "plugin-hsm-provider-type": "native-pkcs11",
                "plugin-hsm-config-path": PKCS11_CONFIG,
                "plugin-hsm-password-path": HSM_PIN,
                "plugin-hsm-key-alias": m.hsm_key_alias or f"{m.slug}-node",
                "plugin-hsm-ec-curve": "secp256k1",
            }
        )
    else:
        config["node-private-key-file"] = "key"
    return config


CONFIG_COMMENTS = {
    "bonsai-limit-trie-logs-enabled": "Required with BONSAI and sync-mode FULL.",
    "min-gas-price": "Free gas, as in the genesis (zeroBaseFee).",
    "rpc-http-api": "Only the API groups this node's role needs.",
    "rpc-max-logs-range": "eth_getLogs range cap; the app's INDEXER_MAX_RANGE stays within it.",
    "security-module": "Node key in an HSM through the Besu HSM plugin (see HSM.md).",
}


def pkcs11_config(hsm: Hsm, m: Member) -> str:
    return (
        f"# PKCS#11 configuration of {m.slug}'s node key for the Besu HSM plugin.\n"
        f"name = provenant-{m.slug}\n"
        f"library = {hsm.library}\n"
        f"slotListIndex = {hsm.slot_list_index}\n"
    )


def hsm_instructions(m: Member, key: NodeKey) -> str:
    alias = m.hsm_key_alias or f"{m.slug}-node"
    return f"""# {m.name}: node key in an HSM

This node's key is not in this directory: it lives in a PKCS#11 token, and Besu signs with it
through the Besu HSM plugin (https://github.com/besu-eth/besu-hsm-plugin, releases 26.5.0 and
later; older builds call the module `pkcs11-hsm` and its options `plugin-pkcs11-hsm-*`).

1. Generate a secp256k1 key in the token with the label `{alias}` (not extractable).
2. Export its public key (uncompressed, 64 bytes x||y) and check it is the one in the consortium:
   0x{key.public_key}
   (address {key.address}; the genesis and the votes use this address).
3. Install the plugin jar in Besu's `plugins/` directory.
4. Put the token PIN in `{HSM_PIN}` next to config.toml, readable by the Besu user only.
5. Check `{PKCS11_CONFIG}`: the vendor's PKCS#11 library and the token's slot index.
6. Start Besu from this directory: `besu --config-file=config.toml`.
"""


def app_env(c: Consortium) -> str:
    rpc = c.rpc_nodes[0]
    lines = [
        f"# The app's settings for the Besu network {c.name!r} (python -m deploy.besu).",
        f"PROVENANT_CHAIN_ID={c.chain_id}",
        "PROVENANT_POA_CHAIN=1",
        f"PROVENANT_RPC_URL=http://{rpc.host}:{rpc.rpc_port}",
        f"INDEXER_MAX_RANGE={c.app_indexer_range()}",
        "INDEXER_CONFIRMATIONS=0",
    ]
    return "\n".join(lines) + "\n"


def load_keys(c: Consortium, out: Path, changes: FileChanges | None = None) -> dict[str, NodeKey]:
    if changes is None:
        return {m.slug: read_key(out, m) for m in c.members}
    return {m.slug: ensure_key(out, m, changes) for m in c.members}


def preflight(c: Consortium) -> None:
    """What must hold before anything is written."""
    if not c.allowed_accounts():
        raise ConsortiumError(
            "no account to allow-list: every transaction would be refused (list the members' "
            "signing accounts, or use --accounts-from-app)"
        )


def render(c: Consortium, out: Path, changes: FileChanges) -> dict[str, NodeKey]:
    """Write every derived file of the network in `out` (creating missing node keys) and
    return the node keys by member slug. The genesis must already be in `out`."""
    preflight(c)
    keys = load_keys(c, out, changes)
    genesis_text = (out / GENESIS).read_text()
    static_text = json.dumps(enodes(c, keys), indent=2) + "\n"
    permissions_text = toml_dumps(
        {"nodes-allowlist": enodes(c, keys), "accounts-allowlist": c.allowed_accounts()}
    )
    changes.write(out / CONSORTIUM, toml_dumps(to_doc(c)))
    changes.write(out / STATIC_NODES, static_text)
    changes.write(out / PERMISSIONS, permissions_text)
    changes.write(out / APP_ENV, app_env(c))
    for m in c.members:
        directory = node_dir(out, m.slug)
        key = keys[m.slug]
        changes.write(directory / GENESIS, genesis_text)
        changes.write(directory / STATIC_NODES, static_text)
        changes.write(directory / PERMISSIONS, permissions_text)
        changes.write(directory / "config.toml", toml_dumps(node_config(c, m), CONFIG_COMMENTS))
        changes.write(directory / "key.pub", key.public_file_text())
        changes.write(directory / "enode", enode_url(key.public_key, m.host, m.p2p_port) + "\n")
        if m.public_key:
            changes.write(directory / PKCS11_CONFIG, pkcs11_config(c.hsm or Hsm(), m))
            changes.write(directory / "HSM.md", hsm_instructions(m, key))
    return keys


def write_genesis(c: Consortium, out: Path, changes: FileChanges) -> None:
    """The genesis for the consortium's validators; refuses to replace a different one."""
    preflight(c)
    keys = load_keys(c, out, changes)
    validators = [address_of(keys[m.slug].public_key) for m in c.validators]
    text = json.dumps(genesis_doc(c, validators), indent=2) + "\n"
    path = out / GENESIS
    if path.exists() and path.read_text() != text:
        raise ConsortiumError(
            f"{path} holds another genesis: that network is running; change its members "
            "with add-member, remove-member and rotate-node-key"
        )
    changes.write(path, text)
