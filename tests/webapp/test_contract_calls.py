"""A contract call is checked against the contract's ABI when it is built, before anything
is queued: the wrong function, the wrong number of arguments or a value its type cannot hold
is refused there, with the argument named."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from web3 import Web3

from contracts.chain.domain import LotKind
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.preflight import checked_call

pytestmark = pytest.mark.unit

H = "0x" + "11" * 32
ZERO = "0x" + "00" * 32
RECEIVER = "0x" + "ab" * 20  # lower case: not a checksummed address
CHECKSUMMED = Web3.to_checksum_address(RECEIVER)


def register(*args: Any) -> ContractCall:
    return ContractCall(contract="Lots", function="registerLot", args=args)


def test_a_call_that_fits_the_abi_round_trips_through_the_operation_column() -> None:
    outputs = [[1002, 5, int(LotKind.PRODUCT), H, ZERO]]
    call = ContractCall(contract="Lots", function="transform", args=([1001], [5], outputs, H))
    stored = call.as_json()
    assert stored == {
        "contract": "Lots",
        "function": "transform",
        "args": [[1001], [5], [[1002, 5, int(LotKind.PRODUCT), H, ZERO]], H],
    }
    assert ContractCall.from_json(stored) == call
    assert call.args[2] == ((1002, 5, int(LotKind.PRODUCT), H, ZERO),)  # immutable inside too


def test_an_unknown_function_is_refused() -> None:
    with pytest.raises(Unencodable, match="Lots has no function 'registerLots'"):
        ContractCall(contract="Lots", function="registerLots", args=(1, 1, 0, H, ZERO))


def test_an_unknown_contract_is_refused() -> None:
    with pytest.raises(Unencodable, match="Tokens is not a system contract"):
        ContractCall(contract="Tokens", function="registerLot", args=())


@pytest.mark.parametrize("args", [(1001, 5), (1001, 5, 0, H, ZERO, ZERO)])
def test_the_wrong_number_of_arguments_is_refused(args: tuple[Any, ...]) -> None:
    with pytest.raises(Unencodable, match=f"takes 5 arguments, {len(args)} given"):
        register(*args)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((2**256, 5, 0, H, ZERO), "argument lotId is uint256"),
        ((-1, 5, 0, H, ZERO), "argument lotId is uint256"),
        ((1001, "five", 0, H, ZERO), "argument quantity is uint256"),
        ((1001, 5, 256, H, ZERO), "argument kind is uint8"),
        ((1001, 5, 0, "0x11", ZERO), "argument metadataHash is bytes32"),
    ],
)
def test_a_value_its_type_cannot_hold_is_refused_naming_the_argument(
    args: tuple[Any, ...], named: str
) -> None:
    with pytest.raises(Unencodable, match=named) as refused:
        register(*args)
    assert "does not fit the contract's types" in str(refused.value)


@pytest.mark.parametrize("receiver", ["0x1234", RECEIVER, "mine", 7])
def test_a_bad_address_is_refused(receiver: Any) -> None:
    with pytest.raises(Unencodable, match="argument receiver is address"):
        ContractCall(contract="Lots", function="initiateHandoff", args=(1001, receiver, 5))
    assert ContractCall(contract="Lots", function="initiateHandoff", args=(1001, CHECKSUMMED, 5))


def test_a_claim_beyond_its_type_inside_an_array_is_refused() -> None:
    with pytest.raises(Unencodable, match="argument claimValues is int256"):
        ContractCall(
            contract="Certificates",
            function="issue",
            args=(1, 1001, H, H, 1_700_000_000, 1_700_086_400, [H], [2**300]),
        )


def test_a_stored_call_that_no_longer_fits_is_refused_when_read() -> None:
    with pytest.raises(Unencodable, match="argument lotId is uint256"):
        ContractCall.from_json({"contract": "Lots", "function": "registerLot",
                                "args": [2**256, 5, 0, H, ZERO]})  # fmt: skip
    with pytest.raises(Unencodable, match="not a contract call"):
        ContractCall.from_json({"args": [1]})


def test_services_see_a_refused_call_as_a_validation_error() -> None:
    with pytest.raises(ValidationError) as refused:
        checked_call("Lots", "registerLot", 2**256, 5, 0, H, ZERO)
    (message,) = refused.value.message_dict["__all__"]
    assert message.startswith("The request cannot be sent to the chain")
    assert "lotId" in message
