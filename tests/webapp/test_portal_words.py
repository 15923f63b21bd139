"""The portal in a supply-chain person's words, on a real chain and the real database:
figures in their units, declared claims beside certified ones, where a lot is now (in
transit, packed, consumed, unpacked), operations titled by what they do and showing what
came of them, and each role's dashboard listing its work."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_provenance_flow import done
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.documents.services import document_upload
from webapp.lots.selectors import lot_labels
from webapp.lots.services import (
    Claims,
    Output,
    bundle_create,
    bundle_unpack,
    handoff_accept,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
    transformation_record,
)
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.selectors import operations_described
from webapp.operations.services import operation_queue
from webapp.operations.titles import Facts, operation_outcome
from webapp.organisations.models import Organisation
from webapp.organisations.services import member_invite
from webapp.projections.models import CertificateVersion, HandoffVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

ORE = "Cobalt ore, pit 9"


def quoted(name: str) -> str:
    return f"\u2018{name}\u2019"


def person(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def text(client: Client, url: str) -> str:
    """The page's text, tags dropped and entities read, spaces collapsed."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    body = re.sub(r"<script.*?</script>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


class _Element(HTMLParser):
    """Collects the text inside the element with a given id, nested elements included."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr"})

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.found, self.parts = element_id, 0, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id and not self.found:
            self.depth, self.found = 1, True
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            self.depth -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def section(client: Client, url: str, element_id: str) -> str:
    """The text of the element with this id, spaces collapsed."""
    parser = _Element(element_id)
    parser.feed(client.get(url).content.decode())
    assert parser.found, f"no #{element_id}"
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def title_of(operation: Operation) -> str:
    (described,) = operations_described([operation], lot_labels=lot_labels)
    return described.title


def open_handoff(lot_id: int) -> int:
    handoff = HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open")
    return int(handoff.handoff_id)


def certificate(
    net: Network, lot_id: int, co2e: int, days: int = 365, kind: str = "CARBON_FOOTPRINT"
) -> int:
    document = document_upload(
        organisation=net.orgs["certifier"],
        name=f"certificate-{lot_id}-{days}.pdf",
        content=f"%PDF certificate of lot {lot_id} for {days} days".encode(),
        content_type="application/pdf",
    )
    now = timezone.now()
    operation = done(
        net,
        certificate_issue(
            organisation=net.orgs["certifier"],
            lot_id=lot_id,
            certificate_type=kind,
            document_hash=document.hash_hex,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=days),
            claims={"CO2E_G_PER_UNIT": co2e},
        ),
    )
    label = {"CARBON_FOOTPRINT": "carbon footprint", "QUALITY": "quality"}[kind]
    assert title_of(operation) == f"Certify lot {lot_id} {quoted(ORE)}: {label}"
    return int(
        CertificateVersion.objects.filter(subject=lot_id, block_to__isnull=True)
        .latest("certificate_id")
        .certificate_id
    )


@pytest.fixture
def ore(network: Network) -> dict[str, Any]:
    """500 kg of ore from the mine, declared at 1,200 g CO2e per kg, not certified yet."""
    operation = done(
        network,
        lot_register(
            organisation=network.orgs["mine"],
            name=ORE,
            quantity=500,
            unit="kg",
            claims=Claims(co2e_g_per_unit=1200, recycled_permille=125),
        ),
    )
    return {"net": network, "lot": int(operation.lot_id or 0), "registered": operation}


def test_the_lot_page_shows_declared_claims_apart_from_certified_ones(
    ore: dict[str, Any],
) -> None:
    net, lot = ore["net"], ore["lot"]
    mine = person("mine")
    figures = section(mine, f"/lots/{lot}", "lot-figures")
    assert "Declared by the producer: 1.2 kg CO2e per kg" in figures
    assert "Declared by the producer: 12.5%" in figures
    assert figures.count("Certified: none yet") == 2
    assert "not certified" in figures  # no certified footprint rolls up from nowhere
    page = text(mine, f"/lots/{lot}")
    assert "co2e_g_per_unit" not in page
    assert "0.000" not in page

    number = certificate(net, lot, co2e=1100)
    figures = section(mine, f"/lots/{lot}", "lot-figures")
    assert "Declared by the producer: 1.2 kg CO2e per kg" in figures
    assert f"Certified: 1.1 kg CO2e per kg by Trust Certification (certificate {number})" in (
        figures
    )
    certificates = section(mine, f"/lots/{lot}", "certificates")
    assert "Carbon footprint" in certificates
    assert "CARBON_FOOTPRINT" not in certificates
    assert "Carbon footprint: 1.1 kg CO2e per kg" in certificates
    assert "CO2E_G_PER_UNIT" not in certificates

    certificate_revoke(
        organisation=net.orgs["certifier"], certificate_id=number, reason="wrong assay"
    )
    net.settle()
    figures = section(mine, f"/lots/{lot}", "lot-figures")
    # A revoked certificate certifies nothing.
    assert "Carbon footprint Declared by the producer: 1.2 kg CO2e per kg" in figures
    assert "Certified: none in force (revoked or expired)" in figures


def test_history_and_holders_tell_where_the_lot_is_in_its_unit(ore: dict[str, Any]) -> None:
    net, lot = ore["net"], ore["lot"]
    mine, refinery = net.orgs["mine"], net.orgs["refinery"]
    assert title_of(ore["registered"]) == f"Register lot {quoted(ORE)} (500 kg)"

    offer = done(
        net, handoff_initiate(organisation=mine, lot_id=lot, receiver=refinery, quantity=400)
    )
    handoff = open_handoff(lot)
    assert title_of(offer) == f"Hand off 400 kg of lot {lot} {quoted(ORE)} to Nordic Refinery"
    holders = section(person("mine"), f"/lots/{lot}", "holders")
    assert "Katanga Cobalt Mine 100 kg" in holders
    assert f"in transit to Nordic Refinery (handoff {handoff}) 400 kg" in holders
    assert "0x" not in holders
    assert "nobody" not in holders
    row = section(person("mine"), "/lots", "lots")
    assert f"in transit to Nordic Refinery (handoff {handoff})" in row
    found = section(person("mine"), "/search?q=pit+9", "result-lots")
    assert f"in transit to Nordic Refinery (handoff {handoff})" in found

    accepted = done(net, handoff_accept(organisation=refinery, handoff_id=handoff))
    assert title_of(accepted) == (
        f"Accept handoff {handoff} (400 kg of lot {lot} from Katanga Cobalt Mine)"
    )
    made = done(
        net,
        transformation_record(
            organisation=refinery,
            inputs=[(lot, 300)],
            outputs=[Output(name="Cobalt sulphate", quantity=200, unit="kg")],
            process="leach 4",
        ),
    )
    sulphate = int(made.lot_id or 0)
    assert title_of(made) == (f"Turn 300 kg of lot {lot} into {quoted('Cobalt sulphate')} (200 kg)")
    packed = done(
        net,
        bundle_create(organisation=refinery, items=[(lot, 100), (sulphate, 200)], name="Pallet"),
    )
    pallet = int(packed.lot_id or 0)
    assert title_of(packed) == (
        f"Pack 100 kg of lot {lot} and 200 kg of lot {sulphate} into bundle {quoted('Pallet')}"
    )

    holders = section(person("refinery"), f"/lots/{lot}", "holders")
    assert f"packed in Pallet {pallet} 100 kg" in holders
    assert "consumed by transformation" in holders
    assert "300 kg" in holders
    assert "Katanga Cobalt Mine 100 kg" in holders
    assert "0x" not in holders
    history = section(person("mine"), f"/lots/{lot}", "history")
    assert "Katanga Cobalt Mine registered 500 kg" in history
    assert f"Katanga Cobalt Mine handed 400 kg to Nordic Refinery (handoff {handoff})" in history
    assert f"Nordic Refinery accepted 400 kg from Katanga Cobalt Mine (handoff {handoff})" in (
        history
    )
    assert f"turned lot {lot} (300 kg) into lot {sulphate} (200 kg)" in history
    assert f"packed lot {lot} (100 kg), lot {sulphate} (200 kg) into bundle {pallet}" in history
    assert "units" not in history

    unpacked = done(net, bundle_unpack(organisation=refinery, bundle_id=pallet))
    assert title_of(unpacked) == f"Unpack bundle {pallet} {quoted('Pallet')}"
    holders = section(person("refinery"), f"/lots/{pallet}", "holders")
    assert "unpacked by Nordic Refinery" in holders
    assert "nobody" not in holders
    assert "Nordic Refinery 100 kg" in section(person("refinery"), f"/lots/{lot}", "holders")


def test_answers_to_a_handoff_are_titled_with_what_they_answer(ore: dict[str, Any]) -> None:
    net, lot = ore["net"], ore["lot"]
    mine = net.orgs["mine"]
    done(
        net,
        handoff_initiate(organisation=mine, lot_id=lot, receiver=net.orgs["refinery"], quantity=50),
    )
    first = open_handoff(lot)
    rejected = done(
        net,
        handoff_reject(organisation=net.orgs["refinery"], handoff_id=first, reason="wet"),
    )
    assert title_of(rejected) == (
        f"Reject handoff {first} (50 kg of lot {lot} from Katanga Cobalt Mine): wet"
    )
    done(
        net,
        handoff_initiate(
            organisation=mine, lot_id=lot, receiver=net.orgs["distributor"], quantity=20
        ),
    )
    second = open_handoff(lot)
    cancelled = done(net, handoff_cancel(organisation=mine, handoff_id=second))
    assert title_of(cancelled) == (f"Cancel handoff {second} (20 kg of lot {lot} to EuroLogistics)")
    # Every operation has a title of words, the operator's onboarding ones included.
    for described in operations_described(Operation.objects.all(), lot_labels=lot_labels):
        assert "." not in described.title.split(" ")[0], described.title
    onboarding = Operation.objects.filter(action="organisation.register").order_by("created_at")
    assert title_of(onboarding[0]) == "Register Katanga Cobalt Mine on the chain (miner)"


def test_the_operation_page_shows_what_came_of_it(ore: dict[str, Any]) -> None:
    net, lot = ore["net"], ore["lot"]
    mine = person("mine")
    operation = ore["registered"]
    status = mine.get(f"/operations/{operation.id}/status").json()
    assert status["status"] == "confirmed"
    assert status["title"] == f"Register lot {quoted(ORE)} (500 kg)"
    assert status["outcome"] == f"Lot {lot} registered"
    assert status["outcome_url"] == f"/lots/{lot}"
    page = text(mine, f"/operations/{operation.id}")
    assert f"Register lot {quoted(ORE)} (500 kg)" in page
    assert "lot.register" not in page.split("Request as recorded")[0]
    assert section(mine, f"/operations/{operation.id}", "outcome").strip() == (
        f"Lot {lot} registered"
    )
    assert f'href="/lots/{lot}"' in mine.get(f"/operations/{operation.id}").content.decode()

    # The operations list and the dashboard show the title and the outcome, linked.
    listing = text(mine, "/operations")
    assert f"Register lot {quoted(ORE)} (500 kg)" in listing
    assert f"Lot {lot} registered" in listing
    dashboard = section(mine, "/", "operations")
    assert f"Register lot {quoted(ORE)} (500 kg)" in dashboard

    # A failed one says why, and links nothing.
    queued, _ = operation_queue(
        organisation=net.orgs["mine"],
        action="handoff.initiate",
        request={"lot_id": lot, "receiver": "refinery", "quantity": 10**9},
        call=ContractCall(
            contract="Lots",
            function="initiateHandoff",
            args=(lot, net.orgs["refinery"].address, 10**9),
        ),
        lot_id=lot,
    )
    net.settle()
    queued.refresh_from_db()
    assert queued.status == Operation.Status.FAILED
    status = mine.get(f"/operations/{queued.id}/status").json()
    assert status["outcome"]
    assert status["outcome"] == status["error"]
    assert status["outcome_url"] == ""
    assert "It did not happen" in section(mine, f"/operations/{queued.id}", "outcome")


def test_an_outcome_is_none_while_on_its_way_and_the_reason_once_failed() -> None:
    facts = Facts()
    assert operation_outcome(status="queued", error="", lot_id=1, events=[], facts=facts) is None
    failed = operation_outcome(status="failed", error="no stock", lot_id=1, events=[], facts=facts)
    assert failed is not None
    assert failed.text == "no stock"
    assert failed.lot_id is None


def test_a_certifiers_dashboard_lists_its_certificates(ore: dict[str, Any]) -> None:
    net, lot = ore["net"], ore["lot"]
    lasting = certificate(net, lot, co2e=1100)
    ending = certificate(net, lot, co2e=1000, days=10)
    revoked = certificate(net, lot, co2e=900, days=200, kind="QUALITY")
    revocation = done(
        net,
        certificate_revoke(
            organisation=net.orgs["certifier"], certificate_id=revoked, reason="wrong assay"
        ),
    )
    assert title_of(revocation) == (
        f"Revoke certificate {revoked} (quality, lot {lot}): wrong assay"
    )
    certifier = person("certifier")
    page = text(certifier, "/")
    assert "Register one" not in page
    assert "My inventory" not in page
    expiring = section(certifier, "/", "certificates-issued").split("In force")[0]
    assert str(ending) in expiring
    assert "Carbon footprint" in expiring
    html = certifier.get("/").content.decode()
    in_force = html.split('id="in-force"')[1].split('id="revoked"')[0]
    assert f'data-certificate="{lasting}"' in in_force
    assert f'data-certificate="{ending}"' in in_force
    assert f'data-certificate="{revoked}"' not in in_force
    assert f"/certificates/{lasting}/revoke" in in_force
    assert f'href="/lots/{lot}"' in in_force
    gone = html.split('id="revoked"')[1]
    assert f'data-certificate="{revoked}"' in gone
    assert "wrong assay" in gone
    assert f"/certificates/{revoked}/impact" in gone


def test_an_auditors_dashboard_shows_the_consortium(ore: dict[str, Any]) -> None:
    net, lot = ore["net"], ore["lot"]
    operator = Organisation.objects.get(is_operator=True)
    member_invite(organisation=operator, username="auditor", password=PASSWORD)
    spare = int(
        done(
            net,
            lot_register(organisation=net.orgs["mine"], name="Spare ore", quantity=7, unit="t"),
        ).lot_id
        or 0
    )
    quarantine, _ = operation_queue(
        organisation=net.orgs["mine"],
        action="setQuarantine",
        request={"lot_id": spare, "reason": "humidity"},
        call=ContractCall(contract="Lots", function="setQuarantine", args=(spare, "humidity")),
        lot_id=spare,
    )
    done(net, quarantine)
    assert title_of(quarantine) == f"Set quarantine (lot {spare})"
    done(
        net,
        handoff_initiate(
            organisation=net.orgs["mine"], lot_id=lot, receiver=net.orgs["refinery"], quantity=5
        ),
    )
    number = certificate(net, lot, co2e=1000)
    done(
        net,
        certificate_revoke(
            organisation=net.orgs["certifier"], certificate_id=number, reason="forged"
        ),
    )
    auditor = person("auditor")
    consortium = section(auditor, "/", "consortium")
    assert "1 handoff waiting for an answer" in consortium
    html = auditor.get("/").content.decode()
    quarantined = html.split('id="quarantined"')[1].split("</table>")[0]
    assert f'data-lot="{spare}"' in quarantined
    assert f'data-lot="{lot}"' not in quarantined
    assert "7 t" in quarantined
    recent = html.split('id="recent-lots"')[1].split("</table>")[0]
    assert recent.index(f'data-lot="{spare}"') < recent.index(f'data-lot="{lot}"')
    revocations = html.split('id="revoked-recently"')[1].split("</table>")[0]
    assert f'data-certificate="{number}"' in revocations
    assert "forged" in revocations
    assert "Register one" not in html
    # Its holder is not offered what the chain would refuse.
    holder = person("mine")
    row = holder.get("/").content.decode().split(f'href="/lots/{spare}"')[1].split("</tr>")[0]
    assert "cannot move while quarantined" in row
    assert "Hand off" not in row
    assert "A quarantined lot cannot be handed off." in text(holder, f"/lots/{spare}")
    assert "Hand off" not in section(holder, f"/lots/{spare}", "holders")


def test_custodians_keep_their_inventory_with_suggestions_they_may_follow(
    ore: dict[str, Any],
) -> None:
    mine = text(person("mine"), "/")
    assert f"{ORE} raw material 500 kg" in mine
    distributor = text(person("distributor"), "/")
    assert "You hold no lots." in distributor
    assert "Register one" not in distributor
    assert "Lots handed to you show here once you accept them." in distributor
