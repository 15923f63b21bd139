"""Tenancy: what one organisation may see of another's. Each case is tried as the other
organisation, on a real chain and the real database.

- Operations are their organisation's own: another organisation's operations (and their
  waiting reasons) never show on a lot page, and a lot not yet on chain does not lead to
  another organisation's operation. Nobody sees a server path in a reason.
- Documents: see `webapp.lots.document_access.document_for_reader`.
- Stock: see `webapp.lots.selectors.stock_scope`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from tests.webapp.network import PASSWORD, Network
from webapp.certificates.services import certificate_issue
from webapp.lots.services import handoff_accept, handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.selectors import KEY_STORE_WAIT
from webapp.operations.submitter import SubmitLater, operation_send
from webapp.organisations.keys import clear_caches
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create
from webapp.privacy.services import personal_seal
from webapp.projections.models import HandoffVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def person(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def api(net: Network, slug: str) -> Client:
    token, _ = api_token_create(organisation=net.orgs[slug], name="erp", scope="read")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def register(net: Network, slug: str = "mine", **kwargs: Any) -> int:
    fields = {"name": "Cobalt ore", "quantity": 1_000, "unit": "kg"} | kwargs
    operation = lot_register(organisation=net.orgs[slug], **fields)
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(operation.lot_id or 0)


# ------------------------------------------------------------------------- operations


def test_a_lot_page_lists_only_the_viewers_own_operations_and_no_server_path(
    network: Network, portal_settings: Any
) -> None:
    lot_id = register(network)
    waiting = handoff_initiate(
        organisation=network.orgs["mine"],
        lot_id=lot_id,
        receiver=network.orgs["refinery"],
        quantity=10,
    )
    passphrase = portal_settings.KEYSTORE_PASSPHRASE
    portal_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    with pytest.raises(SubmitLater):
        operation_send(operation_id=waiting.id)
    portal_settings.KEYSTORE_PASSPHRASE = passphrase
    clear_caches()
    waiting.refresh_from_db()
    key_dir = str(portal_settings.KEYSTORE_DIR)
    assert key_dir in waiting.waiting_reason  # the stored detail, for administrators

    seen_by_other = person("refinery").get(f"/lots/{lot_id}").content.decode()
    assert "Operations in progress" not in seen_by_other
    assert str(waiting.id) not in seen_by_other
    assert key_dir not in seen_by_other

    owner = person("mine")
    seen_by_owner = owner.get(f"/lots/{lot_id}").content.decode()
    assert "Operations in progress" in seen_by_owner
    assert str(waiting.id) in seen_by_owner
    assert key_dir not in seen_by_owner
    assert escape(KEY_STORE_WAIT) in seen_by_owner
    page = owner.get(f"/operations/{waiting.id}").content.decode()
    assert key_dir not in page
    assert escape(KEY_STORE_WAIT) in page
    status = owner.get(f"/operations/{waiting.id}/status").json()
    assert status["waiting_reason"] == KEY_STORE_WAIT
    for row in (
        api(network, "mine").get(f"/api/v1/operations/{waiting.id}").json(),
        api(network, "mine").get("/api/v1/operations").json()["results"][0],
    ):
        assert row["waiting_reason"] == KEY_STORE_WAIT
    assert api(network, "refinery").get(f"/api/v1/operations/{waiting.id}").status_code == 404


def test_a_lot_not_yet_on_chain_leads_only_its_own_organisation_to_the_operation(
    network: Network,
) -> None:
    queued = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=5, unit="kg")
    lot_id = int(queued.lot_id or 0)

    other = person("refinery").get(f"/lots/{lot_id}")
    assert other.status_code == 404
    assert str(queued.id) not in other.content.decode()

    own = person("mine").get(f"/lots/{lot_id}")
    assert own.status_code == 302
    assert own["Location"] == f"/operations/{queued.id}"


def test_a_key_store_outage_refuses_personal_data_without_naming_a_server_path(
    network: Network, portal_settings: Any
) -> None:
    personal_seal(organisation=network.orgs["mine"], values={"contact_name": "Warm-up"})
    passphrase = portal_settings.KEYSTORE_PASSPHRASE
    portal_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    try:
        refused = writer(network, "mine").post(
            "/api/v1/lots/register",
            {"name": "Ore", "quantity": 1, "unit": "kg", "personal": {"contact_name": "A. K."}},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="reg-down",
        )
    finally:
        portal_settings.KEYSTORE_PASSPHRASE = passphrase
        clear_caches()
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "key store unavailable" in body
    assert str(portal_settings.KEYSTORE_DIR) not in body
    assert ".json" not in body


# ------------------------------------------------------------------------------ stock


def hand(net: Network, lot_id: int, sender: str, receiver: str, quantity: int) -> None:
    offered = handoff_initiate(
        organisation=net.orgs[sender],
        lot_id=lot_id,
        receiver=net.orgs[receiver],
        quantity=quantity,
    )
    net.settle()
    offered.refresh_from_db()
    assert offered.status == Operation.Status.CONFIRMED, offered.error
    handoff = HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open")
    accepted = handoff_accept(organisation=net.orgs[receiver], handoff_id=int(handoff.handoff_id))
    net.settle()
    accepted.refresh_from_db()
    assert accepted.status == Operation.Status.CONFIRMED, accepted.error


def auditor(net: Network) -> Client:
    operator = Organisation.objects.get(is_operator=True)
    token, _ = api_token_create(organisation=operator, name="audit", scope="read")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def stock(network: Network) -> dict[str, int]:
    """Mine made lot `ore` and handed 400 to the refinery, which passed all 400 on to the
    retailer; the distributor never touched it. The refinery made `own` (pallets) and
    handed them all to the distributor."""
    ore = register(network, name="Cobalt ore")
    hand(network, ore, "mine", "refinery", 400)
    hand(network, ore, "refinery", "retailer", 400)
    own = register(network, "refinery", name="Pallets", unit="piece", quantity=20)
    hand(network, own, "refinery", "distributor", 20)
    return {"ore": ore, "own": own}


def _holder_names(rows: list[dict[str, Any]]) -> set[str]:
    return {row["name"] for row in rows}


def test_the_holder_filter_finds_a_strangers_stock_only_for_its_custody_partners_and_auditors(
    network: Network, stock: dict[str, int]
) -> None:
    ore = stock["ore"]

    def held_by(client: Client, slug: str) -> list[int]:
        response = client.get(f"/api/v1/lots?holder={slug}")
        assert response.status_code == 200
        return [row["lot_id"] for row in response.json()["results"]]

    assert held_by(api(network, "distributor"), "mine") == []
    assert held_by(api(network, "distributor"), "retailer") == []
    assert held_by(api(network, "distributor"), "distributor") == [stock["own"]]
    assert held_by(api(network, "refinery"), "retailer") == [ore]  # it handed it on
    assert held_by(api(network, "mine"), "retailer") == [ore]  # it made it
    assert held_by(auditor(network), "retailer") == [ore]
    assert held_by(auditor(network), "distributor") == [stock["own"]]
    # The lot itself is a public fact: the plain list shows it to every member.
    everyone = api(network, "distributor").get("/api/v1/lots").json()["results"]
    assert ore in [row["lot_id"] for row in everyone]


def test_a_lots_holders_are_shown_to_its_custody_parties_and_auditors_only(
    network: Network, stock: dict[str, int]
) -> None:
    ore = stock["ore"]
    everyone = {"Katanga Cobalt Mine", "City Electronics"}
    for client, names, scope in (
        (api(network, "distributor"), set(), "own"),
        (api(network, "refinery"), everyone, "all"),
        (api(network, "retailer"), everyone, "all"),
        (auditor(network), everyone, "all"),
    ):
        detail = client.get(f"/api/v1/lots/{ore}").json()
        assert (_holder_names(detail["holders"]), detail["holders_scope"]) == (names, scope)
        holders = client.get(f"/api/v1/lots/{ore}/holders").json()
        assert (_holder_names(holders["holders"]), holders["holders_scope"]) == (names, scope)
        trace = client.get(f"/api/v1/lots/{ore}/trace").json()
        node = next(n for n in trace["nodes"] if n["lot_id"] == ore)
        assert (_holder_names(node["holders"]), node["holders_scope"]) == (names, scope)
    # Its own holding a member always sees, in or out of scope.
    mine = api(network, "mine").get(f"/api/v1/lots/{ore}").json()
    assert _holder_names(mine["holders"]) == everyone

    stranger = person("distributor").get(f"/lots/{ore}").content.decode()
    card = stranger.split('id="holders"')[1].split("</div>")[0]
    assert "City Electronics" not in card
    assert "Katanga" not in card
    assert 'id="holders-scope"' in stranger
    partner = person("refinery").get(f"/lots/{ore}").content.decode()
    card = partner.split('id="holders"')[1].split("</div>")[0]
    assert "City Electronics" in card
    assert 'id="holders-scope"' not in partner
    graph = stranger.split('id="lineage-up"')[1].split("</script>")[0]
    assert "City Electronics" not in graph


def test_the_sustainability_dashboard_uses_the_same_scope(
    network: Network, stock: dict[str, int]
) -> None:
    def lots_on_dashboard(slug: str) -> set[int]:
        csv = person(slug).get("/sustainability/certified_inputs.csv").content.decode()
        return {int(line.split(",")[0]) for line in csv.splitlines()[1:]}

    ore, own = stock["ore"], stock["own"]
    assert lots_on_dashboard("distributor") == {own}
    assert {ore, own} <= lots_on_dashboard("refinery")  # held both, passed them on
    assert ore in lots_on_dashboard("mine")
    assert own not in lots_on_dashboard("mine")
    assert ore in lots_on_dashboard("retailer")
    assert own not in lots_on_dashboard("retailer")


# -------------------------------------------------------------------------- documents


def upload(client: Client, name: str, content: bytes) -> Any:
    return client.post("/api/v1/documents", {"file": SimpleUploadedFile(name, content)})


def writer(net: Network, slug: str) -> Client:
    token, _ = api_token_create(organisation=net.orgs[slug], name="erp")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_document_is_read_only_by_its_uploader_the_lots_custody_parties_certifiers_and_auditors(
    network: Network,
) -> None:
    assay = upload(writer(network, "mine"), "assay-mine.pdf", b"%PDF assay of pit 3")
    assert assay.status_code == 201
    digest = assay.json()["hash"]
    ore = register(network, name="Cobalt ore", documents=[digest])
    hand(network, ore, "mine", "refinery", 1000)
    hand(network, ore, "refinery", "retailer", 1000)
    certificate_document = upload(writer(network, "certifier"), "cf.pdf", b"%PDF footprint")
    issued = certificate_issue(
        organisation=network.orgs["certifier"],
        lot_id=ore,
        certificate_type="CARBON_FOOTPRINT",
        document_hash=certificate_document.json()["hash"],
        valid_from=timezone.now() - timedelta(days=1),
        valid_until=timezone.now() + timedelta(days=365),
        claims={"CO2E_G_PER_UNIT": 4},
    )
    network.settle()
    issued.refresh_from_db()
    assert issued.status == Operation.Status.CONFIRMED, issued.error

    def reads(client: Client, value: str) -> int:
        return int(client.get(f"/api/v1/documents/{value}").status_code)

    readers = {
        "uploader (creator)": api(network, "mine"),
        "past holder": api(network, "refinery"),
        "current holder": api(network, "retailer"),
        "certifier": api(network, "certifier"),
        "auditor": auditor(network),
    }
    for who, client in readers.items():
        assert reads(client, digest) == 200, who
        assert reads(client, certificate_document.json()["hash"]) == 200, who
    body = readers["past holder"].get(f"/api/v1/documents/{digest}")
    assert b"".join(body.streaming_content) == b"%PDF assay of pit 3"  # type: ignore[attr-defined]

    # A stranger to the lot is told the document does not exist, exactly as for a hash
    # nobody uploaded, on the API and in the portal.
    stranger = api(network, "distributor")
    unknown = "0x" + "ab" * 32
    assert reads(stranger, digest) == 404
    assert reads(stranger, unknown) == 404
    assert reads(readers["auditor"], "not-a-hash") == 404
    # A NUL character is refused at the edge, before any lookup.
    assert reads(readers["auditor"], "not-a-hash%00") == 400
    assert (
        stranger.get(f"/api/v1/documents/{digest}").json()
        == stranger.get(f"/api/v1/documents/{unknown}").json()
    )
    assert reads(stranger, certificate_document.json()["hash"]) == 404
    assert person("distributor").get(f"/documents/{digest[2:]}").status_code == 404
    assert person("refinery").get(f"/documents/{digest[2:]}").status_code == 200
    page = person("distributor").get(f"/lots/{ore}").content.decode()
    assert "assay-mine.pdf" not in page
    assert "assay-mine.pdf" in person("retailer").get(f"/lots/{ore}").content.decode()

    # A lot refers only to its registrant's own uploads: the refinery cannot put the mine's
    # hash in its own lot's metadata (and so cannot grant anyone a read through it).
    with pytest.raises(ValidationError, match="No uploaded document has hash"):
        lot_register(
            organisation=network.orgs["refinery"],
            name="Cobalt",
            quantity=1_000,
            unit="g",
            documents=[digest],
        )
    assert reads(stranger, digest) == 404

    # A party to a handoff of the lot (offered, not yet accepted) may read it.
    handoff_initiate(
        organisation=network.orgs["retailer"],
        lot_id=ore,
        receiver=network.orgs["distributor"],
        quantity=10,
    )
    network.settle()
    assert reads(stranger, digest) == 200


def test_uploading_the_same_bytes_reveals_nothing_of_the_other_organisations_record(
    network: Network,
) -> None:
    first = upload(writer(network, "mine"), "mine-assay.pdf", b"%PDF shared bytes")
    later = upload(writer(network, "distributor"), "our-copy.pdf", b"%PDF shared bytes")
    assert later.status_code == 201
    assert later.json()["hash"] == first.json()["hash"]
    assert later.json()["name"] == "our-copy.pdf"
    assert later.json()["uploaded_at"] != first.json()["uploaded_at"]
    assert "mine-assay" not in later.content.decode()
    assert (
        api(network, "distributor").get(f"/api/v1/documents/{later.json()['hash']}").status_code
        == 200
    )
    own = person("distributor").get(f"/documents/{later.json()['hash'][2:]}")
    assert own.status_code == 200
    assert "our-copy.pdf" in own["Content-Disposition"]
    again = upload(writer(network, "mine"), "renamed.pdf", b"%PDF shared bytes")
    assert again.json()["name"] == "mine-assay.pdf"  # one record per organisation


def test_naming_another_organisations_document_tells_nothing_about_it(network: Network) -> None:
    mine = upload(writer(network, "mine"), "assay.pdf", b"%PDF assay kept by the mine")
    assert mine.status_code == 201
    stored, unknown = mine.json()["hash"], "0x" + "cd" * 32
    before = Operation.objects.count()

    def refusal(value: str) -> dict[str, Any]:
        answer = writer(network, "refinery").post(
            "/api/v1/lots/register",
            {"name": "Ore", "quantity": 5, "unit": "kg", "documents": [value]},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"doc-{value}",
        )
        assert answer.status_code == 400, answer.content[:300]
        return dict(answer.json()["errors"])

    # The mine's stored hash and a hash nobody uploaded get the same refusal.
    assert refusal(stored).keys() == refusal(unknown).keys() == {"documents"}
    assert refusal(stored)["documents"][0].replace(stored, "H") == refusal(unknown)["documents"][
        0
    ].replace(unknown, "H")
    with pytest.raises(Exception, match="Upload the certificate's document first"):
        certificate_issue(
            organisation=network.orgs["certifier"],
            lot_id=1,
            certificate_type="CARBON_FOOTPRINT",
            document_hash=stored,
            valid_from=timezone.now(),
            valid_until=timezone.now() + timedelta(days=1),
        )
    assert Operation.objects.count() == before
