"""The Besu QBFT genesis matches what the application relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rlp

from deploy.besu.make_genesis import genesis, qbft_extra_data

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
VALIDATORS = ["0x" + "22" * 20, "0x" + "11" * 20]


def test_qbft_extra_data_is_vanity_sorted_validators_no_vote_round_zero_no_seals() -> None:
    doc = genesis(VALIDATORS)
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(doc["extraData"][2:]))
    assert vanity == b"\0" * 32
    assert ["0x" + v.hex() for v in validators] == sorted(VALIDATORS)
    assert (vote, round_, seals) == ([], b"", [])


def test_qbft_extra_data_reproduces_the_example_in_besus_qbft_documentation() -> None:
    # besu-docs, private-networks/how-to/configure/consensus/qbft.md, "Generate extra data":
    # the output of `besu rlp encode --type=QBFT_EXTRA_DATA` for these four validators.
    validators = [
        "0x4592c8e45706cc08b8f44b11e43cba0cfc5892cb",
        "0x06e23768a0f59cf365e18c2e0c89e151bcdedc70",
        "0xc5327f96ee02d7bcbc1bf1236b8c15148971e1de",
        "0xab5e7f4061c605820d3744227eed91ff8e2c8908",
    ]
    expected = (
        "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854944592c8e4"
        "5706cc08b8f44b11e43cba0cfc5892cb9406e23768a0f59cf365e18c2e0c89e151bcdedc7094c5327f96"
        "ee02d7bcbc1bf1236b8c15148971e1de94ab5e7f4061c605820d3744227eed91ff8e2c8908c080c0"
    )
    assert qbft_extra_data(validators) == expected


def test_genesis_is_free_gas_and_cancun_like_the_contracts() -> None:
    config = genesis(VALIDATORS)["config"]
    assert config["zeroBaseFee"] is True
    assert (config["cancunTime"], config["shanghaiTime"]) == (0, 0)
    assert (config["londonBlock"], config["berlinBlock"]) == (0, 0)
    assert config["chainId"] == 1337
    assert config["contractSizeLimit"] == 24576
    assert config["qbft"]["blockperiodseconds"] >= 1
    assert "emptyblockperiodseconds" not in config["qbft"]  # 0: Besu's default, a block each period
    artifact = json.loads((ROOT / "contracts/artifacts/Lots.json").read_text())
    assert artifact["compiler"]["evmVersion"] == "cancun"


def test_block_period_transitions_are_keyed_by_block_number() -> None:
    config = genesis(VALIDATORS, 99, block_period_transitions=[(1000, 5), (9000, 3)])["config"]
    assert config["chainId"] == 99
    assert config["transitions"] == {
        "qbft": [{"block": 1000, "blockperiodseconds": 5}, {"block": 9000, "blockperiodseconds": 3}]
    }
