"""The Besu QBFT configuration matches what the application relies on."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import rlp
from eth_account import Account

pytestmark = pytest.mark.unit

BESU = Path(__file__).resolve().parents[2] / "deploy" / "besu"


def _make_genesis() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_genesis", BESU / "make_genesis.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_genesis_names_the_generated_validators_in_qbft_extra_data(tmp_path: Path) -> None:
    assert _make_genesis().main(["--validators", "4", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "genesis.json").read_text())

    keys = sorted(tmp_path.glob("validator-*/key"))
    assert len(keys) == 4
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    expected = sorted(Account.from_key(k.read_text()).address.lower() for k in keys)
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(doc["extraData"][2:]))
    assert vanity == b"\0" * 32
    assert ["0x" + v.hex() for v in validators] == expected
    assert (vote, round_, seals) == ([], b"", [])


def test_genesis_is_free_gas_and_cancun_like_the_contracts(tmp_path: Path) -> None:
    _make_genesis().main(["--validator-address", "0x" + "11" * 20, "--out", str(tmp_path)])
    config = json.loads((tmp_path / "genesis.json").read_text())["config"]
    assert config["zeroBaseFee"] is True
    assert config["cancunTime"] == 0
    assert config["shanghaiTime"] == 0
    assert config["chainId"] == 1337
    assert config["contractSizeLimit"] == 24576
    assert config["qbft"]["blockperiodseconds"] >= 1
    artifact = json.loads((BESU.parents[1] / "contracts/artifacts/Lots.json").read_text())
    assert artifact["compiler"]["evmVersion"] == "cancun"


def test_node_config_accepts_zero_gas_and_caps_log_ranges() -> None:
    config = tomllib.loads((BESU / "config.toml").read_text())
    assert config["min-gas-price"] == 0
    assert config["rpc-max-logs-range"] == 5000
    assert "ETH" in config["rpc-http-api"]
    assert config["permissions-nodes-config-file-enabled"] is True
    tomllib.loads((BESU / "permissions_config.toml").read_text())
