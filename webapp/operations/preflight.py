"""Refuse up front what the chain would refuse, with the chain's own reason.

Before an operation is queued, its contract call is simulated (``eth_call`` from the
organisation's address against the latest block). A revert is decoded and turned into a
sentence a person can act on, attached to the form field it is about. The simulation is
skipped, and the submitter's own pre-flight decides, when the organisation still has
operations in flight (their effects, such as a lot registered a moment ago, are not in the
latest block yet) or when the node cannot be reached (the operation waits for it).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout
from web3 import Web3

from contracts.chain.client import simulate
from contracts.chain.domain import Role, from_ascii32
from contracts.chain.errors import DecodedError
from webapp.chain.chain_client import NotDeployed, system
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.models import Operation
from webapp.operations.selectors import operations_in_flight
from webapp.operations.services import operation_queue, operation_replayed
from webapp.operations.submitter import contract_call
from webapp.organisations.models import Organisation

log = logging.getLogger(__name__)
User = AbstractBaseUser | AnonymousUser | None

# error name -> (form field, message template over the error's arguments and `names`)
_REFUSALS: dict[str, tuple[str, str]] = {
    "UnknownLot": ("lot_id", "Lot {lotId} does not exist on the chain."),
    "LotQuarantined": ("lot_id", "Lot {lotId} is quarantined; it cannot move until released."),
    "NotLotHolder": ("lot_id", "{account} does not hold lot {lotId}."),
    "LotAlreadyExists": ("lot_id", "Lot {lotId} already exists."),
    "InvalidLotId": ("lot_id", "A lot id must be a positive number."),
    "ZeroQuantity": ("quantity", "The quantity must be greater than zero."),
    "ERC1155InsufficientBalance": (
        "quantity",
        "Not enough of lot {tokenId}: {sender} holds {balance}, {needed} were asked for.",
    ),
    "SelfHandoff": ("receiver", "An organisation cannot hand a lot to itself."),
    "UnknownParticipant": ("receiver", "{account} is not a registered participant."),
    "SuspendedParticipant": ("receiver", "{account} is suspended."),
    "MissingRole": ("__all__", "{account} lacks the role for this action (needs {roles})."),
    "MissingValidCertificate": (
        "__all__",
        "Lot {lotId} has no valid {certificateType} certificate, which the receiver requires.",
    ),
    "HandoffNotOpen": ("handoff_id", "Handoff {handoffId} is no longer open."),
    "NotHandoffReceiver": ("__all__", "Only the receiver of handoff {handoffId} can do this."),
    "NotHandoffSender": ("__all__", "Only the sender of handoff {handoffId} can cancel it."),
    "NotABundle": ("lot_id", "Lot {lotId} is not a bundle."),
    "BundleNotTransformable": ("lot_id", "Bundle {lotId} must be unpacked before processing."),
    "BundleContentsMismatch": ("__all__", "Bundle {bundleId}'s contents do not match."),
    "EmptyList": ("__all__", "At least one lot is needed."),
    "LengthMismatch": ("__all__", "Each lot needs exactly one quantity."),
    "SystemPaused": ("__all__", "The consortium has paused all changes."),
    "UnknownCertificate": ("certificate_id", "Certificate {certificateId} does not exist."),
    "CertificateAlreadyRevoked": (
        "certificate_id",
        "Certificate {certificateId} is already revoked.",
    ),
    "NotCertificateIssuer": (
        "certificate_id",
        "Only the issuer can revoke certificate {certificateId}.",
    ),
    "InvalidValidity": ("valid_until", "The certificate must end after it starts."),
    "InvalidSubject": ("lot_id", "The certificate's subject does not exist."),
    "InvalidDocumentHash": ("document", "A certificate needs its document."),
    "InvalidCertificateType": ("certificate_type", "A certificate needs a type."),
    "ClaimsLengthMismatch": ("claims", "Each claim needs exactly one value."),
    "ParticipantAlreadyRegistered": ("__all__", "{account} is already registered."),
    "KeyAlreadyRotated": ("__all__", "{account}'s key has already been rotated."),
    "NoSuccessor": ("__all__", "{account} has no successor key registered on chain."),
    "LotIdsNotAscending": ("__all__", "Lot ids must be listed in ascending order."),
    "QuantityTooLarge": ("quantity", "A lot's quantity can be at most 2^240 - 1 units."),
    "NotQuarantineAuthority": (
        "lot_id",
        "{account} may not quarantine lot {lotId}: only a reporter, a certifier or the "
        "custodian of all of the lot may.",
    ),
    "NotQuarantineSetter": (
        "lot_id",
        "Lot {lotId}'s quarantine was set by {setBy}; only they, an auditor or an "
        "administrator may lift it.",
    ),
    "AlreadyQuarantined": ("lot_id", "Lot {lotId} is already quarantined."),
    "NotQuarantined": ("lot_id", "Lot {lotId} is not quarantined."),
    "EmptyReason": ("reason", "A reason is required."),
    "TooManyLiveCertificates": (
        "__all__",
        "This subject already holds the most live {certificateType} certificates allowed; "
        "one must be revoked or expire first.",
    ),
    "TooManyLiveCertificatesFromIssuer": (
        "__all__",
        "{issuer} already has two live {certificateType} certificates for this subject; "
        "revoke one first.",
    ),
    "RootAlreadyAnchored": (
        "__all__",
        "{anchorer} already anchored this root (block {blockNumber}).",
    ),
}


def names_for(addresses: set[str]) -> dict[str, str]:
    found = Organisation.objects.filter(address__in=addresses).values_list("address", "name")
    return dict(found)


def describe(error: DecodedError | None) -> tuple[str, str]:
    """(field, sentence) for a decoded revert."""
    if error is None:
        return "__all__", "The chain refuses this action (no reason given)."
    field, template = _REFUSALS.get(error.name, ("__all__", ""))
    if not template:
        return field, f"The chain refuses this action: {error}."
    args: dict[str, Any] = {}
    raw = {k: v for k, v in error.args.items() if isinstance(v, str) and Web3.is_address(v)}
    names = names_for({Web3.to_checksum_address(v) for v in raw.values()})
    for key, value in error.args.items():
        if key in raw:
            address = Web3.to_checksum_address(value)
            args[key] = names.get(address, address)
        elif isinstance(value, bytes):
            try:
                args[key] = from_ascii32(value)
            except UnicodeDecodeError:
                args[key] = "0x" + value.hex()
        else:
            args[key] = value
    if error.name == "MissingRole":
        bits = int(error.args.get("anyOfRoles", 0))
        args["roles"] = " or ".join(r.name or "" for r in Role if bits & r)
    try:
        return field, template.format(**args)
    except (KeyError, IndexError):
        return field, f"The chain refuses this action: {error}."


def refusal(error: DecodedError | None, fields: dict[str, str] | None = None) -> ValidationError:
    field, message = describe(error)
    field = (fields or {}).get(field, field)
    return ValidationError({field: [message]})


def _unencodable(exc: Unencodable) -> ValidationError:
    return ValidationError({"__all__": [str(exc)[:1].upper() + str(exc)[1:] + "."]})


def checked_call(contract: str, function: str, *args: Any) -> ContractCall:
    """The contract call, checked against the ABI as it is built; one the chain could never
    take is refused like any other bad input (the edges' bounds make that rare)."""
    try:
        return ContractCall(contract=contract, function=function, args=args)
    except Unencodable as exc:
        raise _unencodable(exc) from exc


def preflight(
    organisation: Organisation,
    call: ContractCall,
    fields: dict[str, str] | None = None,
    sender: str = "",
) -> None:
    """Raise ValidationError with the chain's reason if the call would revert now."""
    sender = sender or organisation.address
    try:
        w3, contracts = system()
        # A call web3 cannot encode is refused even while others are in flight: queued, it
        # could only fail in the submitter.
        function = contract_call(contracts.all, call)
        if operations_in_flight(chain_id=settings.CHAIN_ID, sender=sender):
            return
        error = simulate(w3, {
            "from": Web3.to_checksum_address(sender),
            "to": function.address,
            "data": function._encode_transaction_data(),
        })  # fmt: skip
    except Unencodable as exc:
        raise _unencodable(exc) from exc
    except (NodeUnreachable, Timeout, ConnectionError, NotDeployed):
        log.info("pre-flight skipped: the chain node is unreachable")
        return
    if error is not None:
        raise refusal(error, fields)


def require_signing_key(organisation: Organisation) -> str:
    """The organisation's chain address; refuses when it has no key yet."""
    if not organisation.address:
        raise ValidationError(
            {"__all__": [f"{organisation.name} has no signing key yet; ask the operator."]}
        )
    return organisation.address


def queue_checked(
    *,
    organisation: Organisation,
    action: str,
    request: dict[str, Any],
    call: ContractCall,
    lot_id: int | None,
    idempotency_key: str,
    user: User,
    fields: dict[str, str] | None = None,
    sender: str = "",
) -> Operation:
    """Pre-flight the call and queue the operation. A retry of an accepted request (same
    idempotency key and body) gets the first operation back without a pre-flight."""
    replay = operation_replayed(
        organisation=organisation, idempotency_key=idempotency_key, action=action, request=request
    )
    if replay is not None:
        return replay
    preflight(organisation, call, fields, sender)
    operation, _ = operation_queue(
        organisation=organisation,
        action=action,
        request=request,
        call=call,
        lot_id=lot_id,
        idempotency_key=idempotency_key,
        user=user,
        sender=sender,
    )
    return operation
