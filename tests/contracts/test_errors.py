"""Reverts reach people as named custom errors with their arguments, never as hex."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from contracts.chain.errors import decode_revert, error_index

pytestmark = pytest.mark.unit


def test_a_custom_error_decodes_to_its_name_and_named_arguments() -> None:
    data = selector("LotQuarantined(uint256)") + encode(["uint256"], [42])
    decoded = decode_revert(data)
    assert decoded is not None
    assert str(decoded) == "LotQuarantined(lotId=42)"


def test_addresses_are_checksummed_and_ascii_bytes32_is_shown_as_text() -> None:
    receiver = "0x" + "ab" * 20
    data = selector("MissingValidCertificate(uint256,bytes32)") + encode(
        ["uint256", "bytes32"], [7, b"QUALITY".ljust(32, b"\0")]
    )
    assert str(decode_revert(data)) == "MissingValidCertificate(lotId=7, certificateType='QUALITY')"
    data = selector("NotHandoffReceiver(uint256,address)") + encode(
        ["uint256", "address"], [3, receiver]
    )
    decoded = decode_revert("0x" + data.hex())
    assert decoded is not None
    assert decoded.args["caller"] == to_checksum_address(receiver)


def test_openzeppelin_errors_of_inherited_contracts_are_known() -> None:
    names = {spec.name for spec in error_index().values()}
    assert {"ERC1155InsufficientBalance", "AccessControlUnauthorizedAccount"} <= names
    assert {"UnknownCertificate", "RootAlreadyAnchored", "SystemPaused"} <= names


def test_string_reasons_panics_unknown_selectors_and_empty_data() -> None:
    assert str(decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["nope"]))) == (
        "Error(message=nope)"
    )
    assert str(decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11]))) == (
        "Panic(code=0x11)"
    )
    unknown = decode_revert(b"\xde\xad\xbe\xef")
    assert unknown is not None
    assert unknown.name == "UnknownError"
    assert decode_revert(None) is None
    assert decode_revert(b"") is None
