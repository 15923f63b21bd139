"""The chain client: one cached client per URL, explicit fees, settings that fail loudly."""

from __future__ import annotations

import pytest
from web3 import Web3

from contracts.chain import settings
from contracts.chain.client import build_transaction, fee_fields, get_web3
from contracts.chain.domain import ascii32, from_ascii32
from tests.contracts.consortium import Consortium


@pytest.mark.unit
def test_the_client_factory_caches_per_url_and_can_be_cleared() -> None:
    a = get_web3("http://127.0.0.1:1")
    assert get_web3("http://127.0.0.1:1") is a
    assert get_web3("http://127.0.0.1:2") is not a
    get_web3.cache_clear()
    assert get_web3("http://127.0.0.1:1") is not a
    get_web3.cache_clear()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value", "reader"),
    [
        ("PROVENANT_PRIORITY_FEE_WEI", "lots", settings.priority_fee_wei),
        ("PROVENANT_PRIORITY_FEE_WEI", "-1", settings.priority_fee_wei),
        ("PROVENANT_POA_CHAIN", "maybe", settings.poa_chain),
        ("PROVENANT_RECEIPT_TIMEOUT", "0", settings.receipt_timeout_seconds),
    ],
)
def test_a_malformed_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reader: object
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.ConfigError, match=name):
        reader()  # type: ignore[operator]


@pytest.mark.unit
def test_settings_have_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROVENANT_RPC_URL", "PROVENANT_POA_CHAIN", "PROVENANT_PRIORITY_FEE_WEI"):
        monkeypatch.delenv(name, raising=False)
    assert settings.rpc_url() == "http://127.0.0.1:8545"
    assert settings.poa_chain() is False
    assert settings.priority_fee_wei() == 0


@pytest.mark.unit
def test_ascii32_round_trips_and_refuses_long_names() -> None:
    assert from_ascii32(ascii32("CARBON_FOOTPRINT")) == "CARBON_FOOTPRINT"
    with pytest.raises(ValueError, match="longer than 32"):
        ascii32("X" * 33)


@pytest.mark.chain
def test_fees_follow_the_base_fee_of_a_charging_chain(
    consortium: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The in-process EVM charges a base fee (unlike the free-gas QBFT network).
    base_fee = consortium.w3.eth.get_block("latest")["baseFeePerGas"]
    assert base_fee > 0
    monkeypatch.setenv("PROVENANT_PRIORITY_FEE_WEI", "7")
    assert fee_fields(consortium.w3) == {
        "maxFeePerGas": 2 * base_fee + 7,
        "maxPriorityFeePerGas": 7,
    }


@pytest.mark.chain
def test_a_built_transaction_is_complete_and_type_2(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    call = c.lots.functions.initiateHandoff(lot, c.maker.address, 5)
    tx = build_transaction(c.w3, c.miner.address, call)
    assert tx["type"] == 2
    assert tx["chainId"] == c.w3.eth.chain_id
    assert tx["to"] == c.lots.address
    assert tx["value"] == 0
    assert tx["nonce"] == c.w3.eth.get_transaction_count(c.miner.address)
    assert tx["gas"] > 50_000
    assert Web3.to_bytes(hexstr=tx["data"])[:4] == Web3.to_bytes(hexstr=call.selector)
