"""Pre-flight: the contracts' quarantine, certificate and anchor refusals read as sentences."""

from __future__ import annotations

import pytest

from contracts.chain.domain import ascii32
from contracts.chain.errors import DecodedError
from webapp.operations.preflight import describe
from webapp.organisations.models import Organisation

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SENSOR = "0x" + "11" * 20
MINER = "0x" + "22" * 20


@pytest.fixture
def named() -> None:
    Organisation.objects.create(slug="sensor-co", name="Sensor Co", address=SENSOR)
    Organisation.objects.create(slug="mine", name="Mine", address=MINER)


@pytest.mark.usefixtures("named")
@pytest.mark.parametrize(
    ("error", "field", "sentence"),
    [
        (
            DecodedError("NotQuarantineAuthority", {"lotId": 7, "account": MINER}),
            "lot_id",
            "Mine may not quarantine lot 7: only a reporter, a certifier or the custodian of "
            "all of the lot may.",
        ),
        (
            DecodedError("NotQuarantineSetter", {"lotId": 7, "setBy": SENSOR, "account": MINER}),
            "lot_id",
            "Lot 7's quarantine was set by Sensor Co; only they, an auditor or an administrator "
            "may lift it.",
        ),
        (DecodedError("EmptyReason", {}), "reason", "A reason is required."),
        # Also a bundle's refusal: it names the quarantined lot inside, at any depth.
        (
            DecodedError("LotQuarantined", {"lotId": 7}),
            "lot_id",
            "Lot 7 is quarantined; it cannot move until released.",
        ),
        (
            DecodedError(
                "TooManyLiveCertificatesFromIssuer",
                {
                    "subjectKind": 1,
                    "subject": 7,
                    "certificateType": ascii32("QUALITY"),
                    "issuer": SENSOR,
                },
            ),
            "__all__",
            "Sensor Co already has two live QUALITY certificates for this subject; revoke one "
            "first.",
        ),
        (
            DecodedError("QuantityTooLarge", {"quantity": 2**240}),
            "quantity",
            "A lot's quantity can be at most 2^240 - 1 units.",
        ),
    ],
)
def test_new_refusals_name_the_parties(error: DecodedError, field: str, sentence: str) -> None:
    assert describe(error) == (field, sentence)
