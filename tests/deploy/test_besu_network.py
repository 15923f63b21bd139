"""`python -m deploy.besu generate` writes a Besu QBFT network the app can use: the genesis
names the node keys' addresses, every config key is a documented Besu option, every node
knows and allows every other, and provenant.env loads into the app's settings. Besu itself
cannot run here; these are the checks made instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy.besu import options
from deploy.besu.keys import NodeKey, address_of
from tests.deploy.besu_network import (
    ACCOUNTS,
    DEPLOYER,
    consortium_doc,
    enode_of,
    generated,
    genesis_validators,
    key_address,
    member,
    node_dirs,
    permissions,
    run,
    static_nodes,
    tree,
    write_consortium,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_genesis_names_the_node_keys_of_the_four_validators(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)

    keys = {node.name: node / "key" for node in node_dirs(out)}
    assert sorted(keys) == ["alpha", "bravo", "charlie", "delta", "gateway"]
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys.values())
    assert all(k.read_text().startswith("0x") and len(k.read_text()) == 66 for k in keys.values())
    expected = sorted(key_address(keys[slug]) for slug in ("alpha", "bravo", "charlie", "delta"))
    assert genesis_validators(out) == expected  # the rpc node is not a validator
    hosts = {"alpha": 11, "bravo": 12, "charlie": 13, "delta": 14, "gateway": 15}
    for node in node_dirs(out):
        public = (node / "key.pub").read_text()
        assert address_of(public[2:]) == key_address(node / "key")
        assert enode_of(node) == f"enode://{public[2:]}@10.0.0.{hosts[node.name]}:30303"


def test_the_genesis_is_qbft_free_gas_cancun_with_block_number_transitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    doc = json.loads((out / "genesis.json").read_text())
    config = doc["config"]

    assert config["chainId"] == 4242
    assert config["zeroBaseFee"] is True
    assert (config["berlinBlock"], config["londonBlock"]) == (0, 0)
    assert (config["shanghaiTime"], config["cancunTime"]) == (0, 0)
    assert config["qbft"] == {
        "blockperiodseconds": 2,
        "emptyblockperiodseconds": 30,
        "epochlength": 30000,
        "requesttimeoutseconds": 4,
    }
    assert config["transitions"] == {"qbft": [{"block": 500000, "blockperiodseconds": 5}]}
    assert set(config) <= set(options.GENESIS_CONFIG_ITEMS)
    entries = [config["qbft"], *config["transitions"]["qbft"]]
    assert all(set(entry) <= set(options.QBFT_ITEMS) for entry in entries)
    for node in node_dirs(out):
        assert (node / "genesis.json").read_text() == (out / "genesis.json").read_text()


def test_every_key_of_every_generated_toml_is_a_documented_besu_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    hsm = NodeKey.create()
    assert run(capsys, "rotate-node-key", "--out", str(out), "--slug", "alpha",
               "--public-key", "0x" + hsm.public_key)[0] == 0  # fmt: skip
    documented = {
        "config.toml": set(options.BESU_OPTIONS),
        "permissions_config.toml": set(options.PERMISSIONS_FILE_KEYS),
        "consortium.toml": None,  # the generator's own record, not read by Besu
    }
    found = list(out.rglob("*.toml"))
    assert len(found) == 1 + 1 + 2 * 5
    for path in found:
        keys = set(tomllib.loads(path.read_text()))
        allowed = documented[path.name]
        assert allowed is None or keys <= allowed, (path, keys - (allowed or set()))
    assert "security-module" in (out / "nodes/alpha/config.toml").read_text()
    pages = {o.page for o in options.BESU_OPTIONS.values()}
    assert pages == {options.PUBLIC, options.PRIVATE, options.HSM_PLUGIN}


def test_each_role_gets_only_its_api_groups_and_the_settings_the_app_relies_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    validator = tomllib.loads((out / "nodes/alpha/config.toml").read_text())
    gateway = tomllib.loads((out / "nodes/gateway/config.toml").read_text())

    assert validator["rpc-http-host"] == "127.0.0.1"
    assert set(validator["rpc-http-api"]) == {"ETH", "NET", "QBFT", "PERM"}
    assert gateway["rpc-http-host"] == "0.0.0.0"
    assert set(gateway["rpc-http-api"]) == {"ETH", "NET", "WEB3", "TXPOOL", "PERM"}
    for config in (validator, gateway):
        assert config["min-gas-price"] == 0
        assert config["rpc-max-logs-range"] == 2000
        assert (config["data-storage-format"], config["sync-mode"]) == ("BONSAI", "FULL")
        assert config["bonsai-limit-trie-logs-enabled"] is False  # else Besu refuses to start
        assert config["permissions-nodes-config-file-enabled"] is True
        assert config["permissions-accounts-config-file-enabled"] is True
        assert config["node-private-key-file"] == "key"
    assert gateway["host-allowlist"] == ["localhost", "127.0.0.1", "10.0.0.15"]
    assert (gateway["p2p-host"], gateway["metrics-port"]) == ("10.0.0.15", 9545)


def test_every_node_knows_and_allows_all_five_nodes_and_every_signing_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    enodes = sorted(enode_of(node) for node in node_dirs(out))
    assert len(set(enodes)) == 5

    for node in node_dirs(out):
        assert sorted(static_nodes(node)) == enodes
        assert sorted(permissions(node)["nodes-allowlist"]) == enodes
        assert permissions(node)["accounts-allowlist"] == sorted([DEPLOYER, *ACCOUNTS])
        assert (node / "permissions_config.toml").read_text() == (
            out / "permissions_config.toml"
        ).read_text()


def test_provenant_env_loads_into_the_app_settings_within_the_logs_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    env = dict(
        line.split("=", 1)
        for line in (out / "provenant.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env == {
        "PROVENANT_CHAIN_ID": "4242",
        "PROVENANT_POA_CHAIN": "1",
        "PROVENANT_RPC_URL": "http://10.0.0.15:8545",
        "INDEXER_MAX_RANGE": "2000",
        "INDEXER_CONFIRMATIONS": "0",
    }
    assert int(env["INDEXER_MAX_RANGE"]) <= 2000  # the gateway's rpc-max-logs-range

    probe = (
        "import json; from django.conf import settings; from contracts.chain import settings as c;"
        "print(json.dumps([settings.CHAIN_ID, settings.CHAIN_RPC_URL, settings.INDEXER_MAX_RANGE,"
        " settings.INDEXER_CONFIRMATIONS, c.poa_chain()]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROVENANT_", "INDEXER_"))}
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        env={
            **clean,
            **env,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "PROVENANT_DATA_DIR": str(tmp_path / "data"),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(loaded.stdout) == [4242, "http://10.0.0.15:8545", 2000, 0, True]


def test_generating_again_changes_nothing_and_keeps_the_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    before = tree(out)
    code, said, _ = run(
        capsys, "generate", "--consortium", str(tmp_path / "consortium.toml"), "--out", str(out)
    )
    assert code == 0
    assert "Files: nothing changed." in said
    assert tree(out) == before


def test_the_example_consortium_generates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = ROOT / "deploy/besu/consortium.example.toml"
    code, _, err = run(capsys, "generate", "--consortium", str(example), "--out", str(tmp_path))
    assert code == 0, err
    assert len(genesis_validators(tmp_path)) == 4
    assert "besu.provenant.internal" in (tmp_path / "nodes/gateway/config.toml").read_text()


def test_hsm_validators_get_a_pkcs11_plugin_config_and_no_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hsm_keys = [NodeKey.create() for _ in range(4)]
    members = [
        member(slug, n, public_key="0x" + key.public_key, address=key.address)
        for n, (slug, key) in enumerate(zip(["a", "b", "c", "d"], hsm_keys, strict=True), 1)
    ]
    source = write_consortium(
        tmp_path / "c.toml", consortium_doc(members=[*members, member("gateway", 5, role="rpc")])
    )
    out = tmp_path / "hsm"
    code, _, err = run(capsys, "generate", "--hsm", "--consortium", str(source), "--out", str(out))
    assert code == 0, err

    assert genesis_validators(out) == sorted(k.address for k in hsm_keys)
    config = tomllib.loads((out / "nodes/a/config.toml").read_text())
    assert set(config) <= set(options.BESU_OPTIONS)
    assert config["security-module"] == "hsm"
    assert config["plugin-hsm-config-path"] == "pkcs11.cfg"
    assert config["plugin-hsm-key-alias"] == "a-node"
    assert "node-private-key-file" not in config
    assert not (out / "nodes/a/key").exists()
    assert "library = /usr/lib/softhsm/libsofthsm2.so" in (out / "nodes/a/pkcs11.cfg").read_text()
    assert hsm_keys[0].address in (out / "nodes/a/HSM.md").read_text()
    assert (out / "nodes/gateway/key").exists()  # rpc nodes keep a key file
    assert "[hsm]" in (out / "consortium.toml").read_text()


def test_hsm_needs_the_validators_public_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_consortium(tmp_path / "c.toml", consortium_doc())
    code, _, err = run(
        capsys, "generate", "--hsm", "--consortium", str(source), "--out", str(tmp_path / "n")
    )
    assert code == 2
    assert "validator(s) alpha, bravo, charlie, delta need `public_key`" in err
    assert not (tmp_path / "n").exists()


def test_an_hsm_public_key_must_match_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = NodeKey.create()
    wrong = member("a", 1, public_key="0x" + key.public_key, address="0x" + "11" * 20)
    source = write_consortium(
        tmp_path / "c.toml", consortium_doc(members=[wrong, member("g", 2, role="rpc")])
    )
    code, _, err = run(
        capsys, "generate", "--hsm", "--consortium", str(source), "--out", str(tmp_path / "n")
    )
    assert code == 2
    assert "is not the public key's" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"members": [member("a", 1), member("a", 2), member("g", 3, role="rpc")]},
         "duplicate member slug(s): a"),
        ({"members": [member("a", 1), member("b", 1, role="rpc")]},
         "port clash on 10.0.0.11:30303"),
        ({"members": [member("g", 1, role="rpc")]}, "at least one validator"),
        ({"members": [member("a", 1)]}, "needs an rpc node"),
        ({"members": [member("a", 1, accounts=["0x12"]), member("g", 2, role="rpc")]},
         "'0x12' is not an address"),
        ({"members": [member("a", 1, host="validator.example"), member("g", 2, role="rpc")]},
         "must be an IP address"),
        ({"members": [member("a", 1, role="observer"), member("g", 2, role="rpc")]},
         "role must be one of validator, rpc"),
        ({"indexer_max_range": 5000}, "indexer_max_range 5000 is above rpc_max_logs_range 2000"),
        ({"transitions": [{"timestamp": 1700000000, "block_period_seconds": 5}]},
         "unknown key(s) timestamp"),
        ({"accounts": [], "members": [member("a", 1, accounts=[]), member("g", 2, role="rpc",
         accounts=[])]}, "no account to allow-list"),
        ({"block_period_seconds": 0}, "`block_period_seconds` must be an integer >= 1"),
    ],
)  # fmt: skip
def test_a_bad_consortium_is_refused_with_a_message_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], message: str
) -> None:
    source = write_consortium(tmp_path / "c.toml", consortium_doc(**change))
    code, _, err = run(
        capsys, "generate", "--consortium", str(source), "--out", str(tmp_path / "n")
    )
    assert code == 2
    assert message in err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert not (tmp_path / "n").exists()


def test_a_directory_holding_another_network_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generated(tmp_path, capsys)
    before = tree(out)
    other = write_consortium(tmp_path / "other.toml", consortium_doc(chain_id=7))
    code, _, err = run(capsys, "generate", "--consortium", str(other), "--out", str(out))
    assert code == 2
    assert "already holds the network 'test-net'" in err
    assert tree(out) == before
