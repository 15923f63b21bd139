"""Certificates: certifiers issue them for lots and participants, and revoke their own.

A subject is certified for a type while any unrevoked certificate of that type is valid: a
certificate issued later (expired, future-dated, another certifier's) never hides one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from web3 import Web3
from web3.types import Wei

from contracts.chain.client import LocalSigner, _revert_data
from contracts.chain.domain import Role, SubjectKind, ascii32
from contracts.chain.errors import DecodedError, decode_revert
from tests.contracts.consortium import H1, Consortium

pytestmark = pytest.mark.chain

QUALITY = ascii32("QUALITY")
CARBON = ascii32("CARBON_FOOTPRINT")
DOC = b"\xd0" * 32
ZERO32 = b"\x00" * 32
CLAIM_KEYS = [
    ascii32("CO2E_G_PER_UNIT"),
    ascii32("RECYCLED_PERMILLE"),
    ascii32("DELTA_VS_BASELINE"),
]
CLAIM_VALUES = [1830, 412, -57]


# ---------------------------------------------------------------------------- helpers


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def travel(w3: Web3, timestamp: int) -> None:
    w3.provider.ethereum_tester.time_travel(timestamp)  # type: ignore[attr-defined]


def latest_at(w3: Web3, timestamp: int) -> None:
    """Mine a block at exactly `timestamp`: views (`.call()`) run against the latest block.
    eth-tester mines the time-travel block one second before the requested time."""
    travel(w3, timestamp + 1)
    assert now(w3) == timestamp


def issue_call(
    c: Consortium,
    subject: int,
    *,
    kind: int = SubjectKind.LOT,
    certificate_type: bytes = QUALITY,
    document: bytes = DOC,
    valid_from: int | None = None,
    valid_until: int | None = None,
    keys: Sequence[bytes] = (),
    values: Sequence[int] = (),
) -> Any:
    start = now(c.w3) - 10 if valid_from is None else valid_from
    end = start + 365 * 24 * 3600 if valid_until is None else valid_until
    return c.certificates.functions.issue(
        int(kind), subject, certificate_type, document, start, end, list(keys), list(values)
    )


def issue(c: Consortium, subject: int, who: LocalSigner | None = None, **kwargs: Any) -> int:
    receipt = c.act(who or c.certifier, issue_call(c, subject, **kwargs))
    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    return int(event["certificateId"])


def count(c: Consortium) -> int:
    return int(c.certificates.functions.certificateCount().call())


def view_revert(call: Any) -> DecodedError | None:
    """The decoded custom error of a reverting view call."""
    try:
        call.call()
    except Exception as exc:
        return decode_revert(_revert_data(exc))
    raise AssertionError("the call did not revert")


def assert_refused(c: Consortium, signer: LocalSigner, call: Any, name: str, **args: Any) -> None:
    """`call` is mined, reverts with `name(**args)`, and no certificate was issued."""
    before = count(c)
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert count(c) == before


def valid(c: Consortium, certificate_id: int) -> bool:
    return bool(c.certificates.functions.isValid(certificate_id).call())


def lot_valid(c: Consortium, lot_id: int, certificate_type: bytes = QUALITY) -> bool:
    return bool(c.certificates.functions.hasValidLotCertificate(lot_id, certificate_type).call())


def live(
    c: Consortium, subject: int, certificate_type: bytes = QUALITY, kind: int = SubjectKind.LOT
) -> list[int]:
    call = c.certificates.functions.liveCertificates(int(kind), subject, certificate_type)
    return [int(i) for i in call.call()]


def valid_one(
    c: Consortium, subject: int, certificate_type: bytes = QUALITY, kind: int = SubjectKind.LOT
) -> int:
    call = c.certificates.functions.validCertificate(int(kind), subject, certificate_type)
    return int(call.call())


def add_certifier(c: Consortium) -> LocalSigner:
    """Onboards the stranger as a second certifier (undone by the fixture's snapshot)."""
    c.act(
        c.admin, c.lots.functions.registerParticipant(c.stranger.address, int(Role.CERTIFIER), H1)
    )
    return c.stranger


def add_certifiers(c: Consortium, n: int) -> list[LocalSigner]:
    """`n` more certifiers with fresh keys, funded by the admin for gas."""
    signers = [LocalSigner.create() for _ in range(n)]
    for signer in signers:
        c.w3.eth.send_transaction(
            {"from": c.admin.address, "to": signer.address, "value": Wei(10**18)}
        )
        c.act(
            c.admin, c.lots.functions.registerParticipant(signer.address, int(Role.CERTIFIER), H1)
        )
    return signers


# ---------------------------------------------------------------------------- issuing


def test_a_certifier_issues_a_certificate_for_a_lot(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    start = now(c.w3) - 10
    end = start + 1000
    call = issue_call(
        c,
        lot,
        certificate_type=CARBON,
        valid_from=start,
        valid_until=end,
        keys=CLAIM_KEYS,
        values=CLAIM_VALUES,
    )
    assert call.call({"from": c.certifier.address}) == 1

    receipt = c.act(c.certifier, call)

    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    assert event == {
        "certificateId": 1,
        "subjectKind": SubjectKind.LOT,
        "subject": lot,
        "certificateType": CARBON,
        "issuer": c.certifier.address,
        "documentHash": DOC,
        "validFrom": start,
        "validUntil": end,
        "claimKeys": CLAIM_KEYS,
        "claimValues": CLAIM_VALUES,
    }
    assert count(c) == 1
    assert tuple(c.certificates.functions.certificate(1).call()) == (
        c.certifier.address,
        start,
        end,
        False,
    )
    assert live(c, lot, CARBON) == [1]
    assert valid_one(c, lot, CARBON) == 1
    assert valid(c, 1)
    assert lot_valid(c, lot, CARBON)
    assert not lot_valid(c, lot, QUALITY)


def test_a_certifier_issues_a_certificate_for_a_participant(consortium: Consortium) -> None:
    c = consortium
    subject = int(c.maker.address, 16)
    start = now(c.w3) - 10
    receipt = c.act(
        c.certifier,
        issue_call(
            c,
            subject,
            kind=SubjectKind.PARTICIPANT,
            certificate_type=ascii32("ISO_14001"),
            valid_from=start,
            valid_until=start + 5000,
            keys=[ascii32("RECYCLED_PERMILLE")],
            values=[-1],
        ),
    )

    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    assert event == {
        "certificateId": 1,
        "subjectKind": SubjectKind.PARTICIPANT,
        "subject": subject,
        "certificateType": ascii32("ISO_14001"),
        "issuer": c.certifier.address,
        "documentHash": DOC,
        "validFrom": start,
        "validUntil": start + 5000,
        "claimKeys": [ascii32("RECYCLED_PERMILLE")],
        "claimValues": [-1],
    }
    assert live(c, subject, ascii32("ISO_14001"), kind=SubjectKind.PARTICIPANT) == [1]
    assert valid_one(c, subject, ascii32("ISO_14001"), kind=SubjectKind.PARTICIPANT) == 1
    assert valid(c, 1)
    # A participant certificate says nothing about a lot that happens to share the number.
    assert live(c, subject, ascii32("ISO_14001")) == []
    assert valid_one(c, subject, ascii32("ISO_14001")) == 0


def test_a_certificate_without_claims_is_fine(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    receipt = c.act(c.certifier, issue_call(c, lot))
    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    assert event["claimKeys"] == []
    assert event["claimValues"] == []


def test_certificate_ids_count_up_from_one(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    assert count(c) == 0
    first = issue(c, lot)
    second = issue(c, int(c.retailer.address, 16), kind=SubjectKind.PARTICIPANT)
    third = issue(c, lot, certificate_type=CARBON)
    assert (first, second, third) == (1, 2, 3)
    assert count(c) == 3
    issuers = {c.certificates.functions.certificate(i).call()[0] for i in (1, 2, 3)}
    assert issuers == {c.certifier.address}


# --------------------------------------------------------------------------- validity


def test_a_certificate_is_valid_only_inside_its_window(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    t0 = now(c.w3)
    certificate_id = issue(c, lot, valid_from=t0 + 1000, valid_until=t0 + 2000)

    assert not valid(c, certificate_id)
    assert not lot_valid(c, lot)

    travel(c.w3, t0 + 1500)
    assert valid(c, certificate_id)
    assert lot_valid(c, lot)

    travel(c.w3, t0 + 2500)
    assert not valid(c, certificate_id)
    assert not lot_valid(c, lot)
    # Expiry is not revocation.
    assert c.certificates.functions.certificate(certificate_id).call()[3] is False


def test_the_validity_window_includes_both_its_first_and_its_last_second(
    consortium: Consortium,
) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    t0 = now(c.w3)
    certificate_id = issue(c, lot, valid_from=t0 + 100, valid_until=t0 + 200)
    for at, expected in ((99, False), (100, True), (200, True), (201, False)):
        latest_at(c.w3, t0 + at)
        assert valid(c, certificate_id) is expected, at
        assert lot_valid(c, lot) is expected, at


def test_unknown_certificates_are_never_valid(consortium: Consortium) -> None:
    c = consortium
    assert not valid(c, 0)
    assert not valid(c, 99)
    assert not lot_valid(c, 99)


def test_a_certificate_issued_later_never_hides_a_valid_one(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    other_lot = c.register_lot(c.miner)
    rival = add_certifier(c)
    t0 = now(c.w3)

    first = issue(c, lot)
    issue(c, other_lot)
    carbon = issue(c, lot, certificate_type=CARBON)
    assert lot_valid(c, lot)

    # Issued later, already expired, by the rival: recorded, but never live.
    expired = issue(c, lot, rival, valid_from=t0 - 200, valid_until=t0 - 100)
    # Issued later, valid only from tomorrow: live, not valid yet.
    future = issue(c, lot, rival, valid_from=t0 + 86400, valid_until=t0 + 2 * 86400)
    assert lot_valid(c, lot)
    assert valid_one(c, lot) == first
    assert live(c, lot) == [first, future]
    assert not valid(c, expired)
    assert not valid(c, future)

    # Other types and other lots are untouched.
    assert valid(c, carbon)
    assert lot_valid(c, lot, CARBON)
    assert lot_valid(c, other_lot)


def test_revoking_the_certificate_that_counted_falls_back_to_another_valid_one(
    consortium: Consortium,
) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    rival = add_certifier(c)
    first = issue(c, lot)
    second = issue(c, lot, rival)
    assert valid_one(c, lot) == first

    c.act(c.certifier, c.certificates.functions.revoke(first, "sample failed"))

    assert lot_valid(c, lot)
    assert valid_one(c, lot) == second

    c.act(rival, c.certificates.functions.revoke(second, "lab error"))

    assert not lot_valid(c, lot)
    assert valid_one(c, lot) == 0


def test_revoking_the_only_valid_certificate_leaves_the_lot_uncertified(
    consortium: Consortium,
) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    t0 = now(c.w3)
    current = issue(c, lot)
    renewal = issue(c, lot, valid_from=t0 + 86400, valid_until=t0 + 2 * 86400)

    c.act(c.certifier, c.certificates.functions.revoke(current, "sample failed"))

    assert not lot_valid(c, lot)
    # The renewal counts once its window opens.
    travel(c.w3, t0 + 86400 + 10)
    assert lot_valid(c, lot)
    assert valid_one(c, lot) == renewal


def test_a_renewal_issued_in_advance_takes_over_when_the_current_one_expires(
    consortium: Consortium,
) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    t0 = now(c.w3)
    current = issue(c, lot, valid_from=t0 - 10, valid_until=t0 + 1000)
    renewal = issue(c, lot, valid_from=t0 + 1001, valid_until=t0 + 5000)

    for at, expected in ((t0 + 500, current), (t0 + 1000, current), (t0 + 1001, renewal)):
        latest_at(c.w3, at)
        assert valid_one(c, lot) == expected, at
    latest_at(c.w3, t0 + 5001)
    assert valid_one(c, lot) == 0


def test_issuing_prunes_revoked_and_expired_certificates(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    rival = add_certifier(c)
    t0 = now(c.w3)
    short = issue(c, lot, valid_from=t0 - 10, valid_until=t0 + 100)
    revoked = issue(c, lot, rival)
    c.act(rival, c.certificates.functions.revoke(revoked, "withdrawn"))
    assert live(c, lot) == [short, revoked]
    travel(c.w3, t0 + 200)

    fresh = issue(c, lot)

    assert live(c, lot) == [fresh]
    assert valid_one(c, lot) == fresh


def test_one_certifier_holds_at_most_two_live_certificates_per_lot_and_type(
    consortium: Consortium,
) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    t0 = now(c.w3)
    first = issue(c, lot)
    second = issue(c, lot, valid_from=t0 + 86400, valid_until=t0 + 2 * 86400)

    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot, valid_from=t0 + 3 * 86400, valid_until=t0 + 4 * 86400),
        "TooManyLiveCertificatesFromIssuer",
        subjectKind=SubjectKind.LOT,
        subject=lot,
        certificateType=QUALITY,
        issuer=c.certifier.address,
    )
    assert live(c, lot) == [first, second]
    # Other types, and other certifiers, are not limited by it.
    issue(c, lot, certificate_type=CARBON)
    rival_certificate = issue(c, lot, add_certifier(c))
    assert live(c, lot) == [first, second, rival_certificate]
    # Revoking one of its own frees a place.
    c.act(c.certifier, c.certificates.functions.revoke(second, "superseded"))
    third = issue(c, lot)
    assert live(c, lot) == [first, rival_certificate, third]


def test_a_lot_holds_at_most_eight_live_certificates_per_type(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    limit = int(c.certificates.functions.MAX_LIVE_CERTIFICATES().call())
    assert limit == 8
    certifiers = add_certifiers(c, 4)
    ids = [issue(c, lot, who) for who in certifiers for _ in range(2)]
    assert live(c, lot) == ids

    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot),
        "TooManyLiveCertificates",
        subjectKind=SubjectKind.LOT,
        subject=lot,
        certificateType=QUALITY,
    )
    # An already expired certificate is recorded even then: it never takes a place.
    t0 = now(c.w3)
    expired = issue(c, lot, valid_from=t0 - 200, valid_until=t0 - 100)
    assert live(c, lot) == ids
    assert expired == ids[-1] + 1
    assert lot_valid(c, lot)


# --------------------------------------------------------------------------- revoking


def test_the_issuer_revokes_a_certificate_with_a_reason(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    certificate_id = issue(c, lot)
    assert valid(c, certificate_id)

    receipt = c.act(c.certifier, c.certificates.functions.revoke(certificate_id, "lab error"))

    (event,) = c.events(receipt, c.certificates, "CertificateRevoked")
    assert event == {
        "certificateId": certificate_id,
        "issuer": c.certifier.address,
        "reason": "lab error",
    }
    assert c.certificates.functions.certificate(certificate_id).call()[3] is True
    assert not valid(c, certificate_id)
    assert not lot_valid(c, lot)


def test_another_certifier_cannot_revoke(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    certificate_id = issue(c, lot)
    rival = add_certifier(c)

    assert_refused(
        c,
        rival,
        c.certificates.functions.revoke(certificate_id, "competitor"),
        "NotCertificateIssuer",
        certificateId=certificate_id,
        caller=rival.address,
    )
    assert c.certificates.functions.certificate(certificate_id).call()[3] is False
    assert valid(c, certificate_id)


def test_a_certificate_cannot_be_revoked_twice(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    certificate_id = issue(c, lot)
    c.act(c.certifier, c.certificates.functions.revoke(certificate_id, "first"))

    assert_refused(
        c,
        c.certifier,
        c.certificates.functions.revoke(certificate_id, "again"),
        "CertificateAlreadyRevoked",
        certificateId=certificate_id,
    )
    assert c.certificates.functions.certificate(certificate_id).call()[3] is True


def test_unknown_certificates_cannot_be_revoked_or_read(consortium: Consortium) -> None:
    c = consortium
    issue(c, c.register_lot(c.miner))
    for unknown in (0, 2, 99):
        assert_refused(
            c,
            c.certifier,
            c.certificates.functions.revoke(unknown, "nope"),
            "UnknownCertificate",
            certificateId=unknown,
        )
        error = view_revert(c.certificates.functions.certificate(unknown))
        assert error is not None
        assert (error.name, error.args) == ("UnknownCertificate", {"certificateId": unknown})


def test_a_suspended_certifier_cannot_revoke(consortium: Consortium) -> None:
    c = consortium
    certificate_id = issue(c, c.register_lot(c.miner))
    c.act(c.admin, c.lots.functions.suspendParticipant(c.certifier.address, "conflict"))
    assert_refused(
        c,
        c.certifier,
        c.certificates.functions.revoke(certificate_id, "late"),
        "SuspendedParticipant",
        account=c.certifier.address,
    )
    assert valid(c, certificate_id)


# ------------------------------------------------------------------- issuing refused


def test_a_participant_without_the_certifier_role_cannot_issue(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.maker)
    for who in (c.maker, c.auditor):
        assert_refused(
            c,
            who,
            issue_call(c, lot),
            "MissingRole",
            account=who.address,
            anyOfRoles=int(Role.CERTIFIER),
        )


def test_a_suspended_certifier_cannot_issue(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.certifier.address, "accreditation lapsed"))
    assert_refused(
        c, c.certifier, issue_call(c, lot), "SuspendedParticipant", account=c.certifier.address
    )


def test_a_stranger_cannot_issue(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    assert_refused(
        c, c.stranger, issue_call(c, lot), "UnknownParticipant", account=c.stranger.address
    )


def test_an_unknown_lot_is_not_a_valid_subject(consortium: Consortium) -> None:
    c = consortium
    unknown = c.new_id()
    assert_refused(
        c,
        c.certifier,
        issue_call(c, unknown),
        "InvalidSubject",
        subjectKind=SubjectKind.LOT,
        subject=unknown,
    )


def test_an_unregistered_participant_is_not_a_valid_subject(consortium: Consortium) -> None:
    c = consortium
    stranger = int(c.stranger.address, 16)
    too_wide = (1 << 160) | int(c.maker.address, 16)  # a registered address plus high bits
    for subject in (stranger, 0, too_wide):
        assert_refused(
            c,
            c.certifier,
            issue_call(c, subject, kind=SubjectKind.PARTICIPANT),
            "InvalidSubject",
            subjectKind=SubjectKind.PARTICIPANT,
            subject=subject,
        )


def test_a_subject_of_kind_none_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot, kind=SubjectKind.NONE),
        "InvalidSubject",
        subjectKind=SubjectKind.NONE,
        subject=lot,
    )


def test_a_certificate_needs_a_type_and_a_document_hash(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    assert_refused(
        c, c.certifier, issue_call(c, lot, certificate_type=ZERO32), "InvalidCertificateType"
    )
    assert_refused(c, c.certifier, issue_call(c, lot, document=ZERO32), "InvalidDocumentHash")


@pytest.mark.parametrize("length", [0, -1], ids=["empty-window", "reversed-window"])
def test_valid_from_must_come_before_valid_until(consortium: Consortium, length: int) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    start = now(c.w3) + 100
    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot, valid_from=start, valid_until=start + length),
        "InvalidValidity",
        validFrom=start,
        validUntil=start + length,
    )


def test_claim_keys_and_values_must_pair_up(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot, keys=CLAIM_KEYS[:2], values=CLAIM_VALUES[:1]),
        "ClaimsLengthMismatch",
        keys=2,
        values=1,
    )
    assert_refused(
        c,
        c.certifier,
        issue_call(c, lot, keys=[], values=[7]),
        "ClaimsLengthMismatch",
        keys=0,
        values=1,
    )


def test_nothing_is_issued_or_revoked_while_the_system_is_paused(consortium: Consortium) -> None:
    c = consortium
    lot = c.register_lot(c.miner)
    certificate_id = issue(c, lot)
    c.act(c.admin, c.lots.functions.pause())

    assert_refused(c, c.certifier, issue_call(c, lot), "SystemPaused")
    assert_refused(
        c, c.certifier, c.certificates.functions.revoke(certificate_id, "x"), "SystemPaused"
    )
    assert c.certificates.functions.certificate(certificate_id).call()[3] is False
