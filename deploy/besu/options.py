"""Every Besu option, genesis item and permissions-file key the generator writes, with where
Besu documents it. `tests/deploy/test_besu_network.py` parses every generated file and fails on
a key that is not listed here, so a misspelt option cannot reach a node (Besu refuses to start
on an unknown option in its TOML file).

Checked by hand against the Besu documentation (docs/public-networks/reference/cli/options.md and
docs/private-networks/reference/cli/options.md in hyperledger/besu-docs, the pages published at
the two URLs below), the QBFT and local-permissioning how-to pages, Besu's JsonBftConfigOptions,
and the README and option classes of the Besu HSM plugin (besu-eth/besu-hsm-plugin).
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "https://besu.hyperledger.org/public-networks/reference/cli/options"
PRIVATE = "https://besu.hyperledger.org/private-networks/reference/cli/options"
HSM_PLUGIN = "https://github.com/besu-eth/besu-hsm-plugin#plugin-cli-options"
GENESIS_ITEMS = "https://besu.hyperledger.org/public-networks/reference/genesis-items"
QBFT = "https://besu.hyperledger.org/private-networks/how-to/configure/consensus/qbft"
LOCAL_PERMISSIONING = "https://besu.hyperledger.org/private-networks/how-to/use-local-permissioning"


@dataclass(frozen=True)
class Documented:
    """A name Besu reads, the page that documents it, and why the generator sets it."""

    page: str
    why: str


#: `besu --config-file=config.toml` options (a TOML key is the option without its `--`).
BESU_OPTIONS: dict[str, Documented] = {
    "genesis-file": Documented(PUBLIC, "the network's genesis.json"),
    "data-path": Documented(PUBLIC, "the node's database directory"),
    "node-private-key-file": Documented(
        PUBLIC, "the node key: its enode id, a validator's address"
    ),
    "data-storage-format": Documented(PUBLIC, "BONSAI"),
    "sync-mode": Documented(PUBLIC, "FULL: every block executed, as a private network defaults"),
    "bonsai-limit-trie-logs-enabled": Documented(
        PUBLIC,
        "false: Besu refuses to start with BONSAI, sync-mode FULL and this option left at its "
        "default (true)",
    ),
    "p2p-host": Documented(PUBLIC, "the address other nodes reach this one at (the enode host)"),
    "p2p-port": Documented(PUBLIC, "the enode port (TCP and UDP)"),
    "static-nodes-file": Documented(PUBLIC, "static-nodes.json: every other node of the network"),
    "min-gas-price": Documented(PUBLIC, "0: free gas; a node above 0 silently drops 0-price txs"),
    "rpc-http-enabled": Documented(PUBLIC, "JSON-RPC over HTTP"),
    "rpc-http-host": Documented(PUBLIC, "127.0.0.1 on validators, 0.0.0.0 on rpc nodes"),
    "rpc-http-port": Documented(PUBLIC, "the member's rpc port"),
    "rpc-http-api": Documented(PUBLIC, "only the API groups the node's role needs"),
    "host-allowlist": Documented(PUBLIC, "Host headers accepted by JSON-RPC and metrics"),
    "rpc-max-logs-range": Documented(PUBLIC, "eth_getLogs range cap (INDEXER_MAX_RANGE <= it)"),
    "metrics-enabled": Documented(PUBLIC, "Prometheus metrics"),
    "metrics-host": Documented(PUBLIC, "where the metrics endpoint listens"),
    "metrics-port": Documented(PUBLIC, "the member's metrics port"),
    "security-module": Documented(PUBLIC, "--hsm: the HSM plugin's module name ('hsm')"),
    "permissions-nodes-config-file-enabled": Documented(PRIVATE, "node allow-list on"),
    "permissions-nodes-config-file": Documented(PRIVATE, "permissions_config.toml"),
    "permissions-accounts-config-file-enabled": Documented(PRIVATE, "account allow-list on"),
    "permissions-accounts-config-file": Documented(PRIVATE, "permissions_config.toml"),
    # Options the Besu HSM plugin registers (documented in the plugin, not on Besu's pages).
    # Its releases since 26.5.0 name the module "hsm"; earlier builds named it "pkcs11-hsm"
    # with `plugin-pkcs11-hsm-*` options.
    "plugin-hsm-provider-type": Documented(HSM_PLUGIN, "native-pkcs11: any PKCS#11 v2.40 HSM"),
    "plugin-hsm-config-path": Documented(HSM_PLUGIN, "the PKCS#11 config (library, slot)"),
    "plugin-hsm-password-path": Documented(HSM_PLUGIN, "a file holding the token PIN"),
    "plugin-hsm-key-alias": Documented(HSM_PLUGIN, "the node key's label on the token"),
    "plugin-hsm-ec-curve": Documented(HSM_PLUGIN, "secp256k1"),
}

#: Keys of genesis.json's `config` object.
GENESIS_CONFIG_ITEMS: dict[str, Documented] = {
    "chainId": Documented(GENESIS_ITEMS, "the chain id the app checks (PROVENANT_CHAIN_ID)"),
    "berlinBlock": Documented(GENESIS_ITEMS, "milestone block"),
    "londonBlock": Documented(GENESIS_ITEMS, "milestone block"),
    "shanghaiTime": Documented(GENESIS_ITEMS, "milestone timestamp"),
    "cancunTime": Documented(GENESIS_ITEMS, "milestone timestamp (contracts compile for cancun)"),
    "zeroBaseFee": Documented(GENESIS_ITEMS, "free gas"),
    "contractSizeLimit": Documented(GENESIS_ITEMS, "EIP-170's 24576 bytes"),
    "qbft": Documented(GENESIS_ITEMS, "QBFT consensus settings"),
    "transitions": Documented(QBFT, "block-number-keyed changes of the QBFT settings"),
}

#: Keys of genesis.json's `config.qbft` object and of its `transitions.qbft` entries.
#: `emptyblockperiodseconds` is the stable name since the Besu release after 26.4.0; older
#: releases read only the experimental `xemptyblockperiodseconds` and ignore this key.
QBFT_ITEMS: dict[str, Documented] = {
    "blockperiodseconds": Documented(QBFT, "seconds between blocks with transactions"),
    "emptyblockperiodseconds": Documented(QBFT, "seconds between blocks without transactions"),
    "epochlength": Documented(QBFT, "blocks between vote resets"),
    "requesttimeoutseconds": Documented(QBFT, "round timeout"),
    "block": Documented(QBFT, "transition entry: the block number it takes effect at"),
}

#: Keys of permissions_config.toml.
PERMISSIONS_FILE_KEYS: dict[str, Documented] = {
    "nodes-allowlist": Documented(LOCAL_PERMISSIONING, "every node's enode URL"),
    "accounts-allowlist": Documented(LOCAL_PERMISSIONING, "accounts allowed to send transactions"),
}
