"""Provenance end to end on a real anvil node and PostgreSQL: a product's lineage, custody,
as-of state, figures, proofs, evidence pack, passport and revocation impact, read over
the API and the portal exactly as a partner or a member of the public would."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from contracts.proofs.verify import verify_document
from tests.webapp.network import PASSWORD, Network
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.chain.models import ChainEvent
from webapp.documents.services import document_upload
from webapp.lots.services import (
    Output,
    bundle_create,
    handoff_accept,
    handoff_initiate,
    lot_register,
    transformation_record,
)
from webapp.operations.models import Operation
from webapp.projections.models import CertificateVersion, HandoffVersion
from webapp.provenance.models import Notification
from webapp.provenance.services import notifications_emit

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def done(net: Network, operation: Operation) -> Operation:
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return operation


def hand(net: Network, sender: str, receiver: str, lot_id: int, quantity: int) -> int:
    done(
        net,
        handoff_initiate(
            organisation=net.orgs[sender],
            lot_id=lot_id,
            receiver=net.orgs[receiver],
            quantity=quantity,
        ),
    )
    handoff = HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open")
    accepted = done(
        net, handoff_accept(organisation=net.orgs[receiver], handoff_id=int(handoff.handoff_id))
    )
    return int(accepted.mined_block or 0)


def certify(net: Network, lot_id: int, co2e: int) -> int:
    document = document_upload(
        organisation=net.orgs["certifier"],
        name=f"footprint-{lot_id}.pdf",
        content=f"%PDF footprint of lot {lot_id}".encode(),
        content_type="application/pdf",
    )
    now = timezone.now()
    done(
        net,
        certificate_issue(
            organisation=net.orgs["certifier"],
            lot_id=lot_id,
            certificate_type="CARBON_FOOTPRINT",
            document_hash=document.hash_hex,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=365),
            claims={"CO2E_G_PER_UNIT": co2e},
        ),
    )
    return int(CertificateVersion.objects.get(subject=lot_id, block_to__isnull=True).certificate_id)


@pytest.fixture
def product(network: Network) -> dict[str, Any]:
    """ore A (1000 g, 4 g CO2e/g) and ore B (500 g, 2 g/g) from the mine; the refinery
    turns A 800 + B 400 into cobalt C (600 g), packs all of C on pallet P and hands P to the
    distributor."""
    net = network
    mine = net.orgs["mine"]
    ore_a = int(
        done(net, lot_register(organisation=mine, name="Ore A", quantity=1000, unit="g")).lot_id
        or 0
    )
    ore_b = int(
        done(net, lot_register(organisation=mine, name="Ore B", quantity=500, unit="g")).lot_id or 0
    )
    certificate_a = certify(net, ore_a, 4)
    certify(net, ore_b, 2)
    before_a_moved = net.w3.eth.block_number
    a_moved = hand(net, "mine", "refinery", ore_a, 1000)
    hand(net, "mine", "refinery", ore_b, 500)
    cobalt = int(
        done(
            net,
            transformation_record(
                organisation=net.orgs["refinery"],
                inputs=[(ore_a, 800), (ore_b, 400)],
                process="refining run 1",
                outputs=[Output(name="Cobalt", quantity=600, unit="g")],
            ),
        ).lot_id
        or 0
    )
    pallet = int(
        done(
            net,
            bundle_create(organisation=net.orgs["refinery"], items=[(cobalt, 600)], name="Pallet"),
        ).lot_id
        or 0
    )
    hand(net, "refinery", "distributor", pallet, 1)
    return {
        "net": net,
        "a": ore_a,
        "b": ore_b,
        "c": cobalt,
        "p": pallet,
        "certificate_a": certificate_a,
        "before_a_moved": before_a_moved,
        "a_moved": a_moved,
    }


def member(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def test_the_api_traces_a_pallet_back_to_its_ore_and_forward_again(product: dict[str, Any]) -> None:
    api = member("distributor")
    a, b, c, p = product["a"], product["b"], product["c"], product["p"]
    up = api.get(f"/api/v1/lots/{p}/trace", {"direction": "up", "depth": 5}).json()
    assert {n["lot_id"]: n["depth"] for n in up["nodes"]} == {p: 0, c: 1, a: 2, b: 2}
    assert sorted((e["from"], e["to"], e["kind"], e["quantity"]) for e in up["edges"]) == sorted(
        [(c, p, "bundle", 600), (a, c, "transform", 800), (b, c, "transform", 400)]
    )
    ore = next(n for n in up["nodes"] if n["lot_id"] == a)
    assert ore["creator_name"] == "Katanga Cobalt Mine"
    # The distributor never held the ore: the refinery's 200 g left over are not its to see
    # (a lot's holders show to its custody parties and auditors: lots.selectors.scope.StockScope).
    assert ore["holders"] == []
    refinery_view = member("refinery").get(f"/api/v1/lots/{p}/trace", {"direction": "up"}).json()
    ore = next(n for n in refinery_view["nodes"] if n["lot_id"] == a)
    assert [h["name"] for h in ore["holders"]] == ["Nordic Refinery"]  # 200 g left over
    assert [c["certificate_type"] for c in ore["certificates"]] == ["CARBON_FOOTPRINT"]

    down = api.get(f"/api/v1/lots/{a}/trace", {"direction": "down"}).json()
    assert {n["lot_id"] for n in down["nodes"]} == {a, c, p}

    refused = api.get(f"/api/v1/lots/{p}/trace", {"direction": "sideways", "depth": 0})
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"direction", "depth"}
    assert api.get("/api/v1/lots/987654/trace").status_code == 404


def test_custody_and_as_of_queries_across_handoffs(product: dict[str, Any]) -> None:
    api = member("refinery")
    a, c, p = product["a"], product["c"], product["p"]
    custody = api.get(f"/api/v1/lots/{c}/custody").json()["handoffs"]
    # Cobalt itself never moved: it travelled inside the pallet.
    steps = [(h["carried_by"], h["sender_name"], h["receiver_name"], h["status"]) for h in custody]
    assert steps == [(p, "Nordic Refinery", "EuroLogistics", "accepted")]
    assert custody[0]["settled"]["transaction_hash"].startswith("0x")

    def holders(block: int) -> dict[str, int]:
        body = api.get(f"/api/v1/lots/{a}/holders", {"as_of": block}).json()
        return {h["name"]: h["quantity"] for h in body["holders"]}

    assert holders(product["before_a_moved"]) == {"Katanga Cobalt Mine": 1000}
    assert holders(product["a_moved"]) == {"Nordic Refinery": 1000}
    assert api.get(f"/api/v1/lots/{a}/holders").json()["holders"][0]["quantity"] == 200
    contents = api.get(f"/api/v1/bundles/{p}/contents", {"as_of": product["a_moved"]}).json()
    assert contents["contents"] == []  # not packed yet
    assert api.get(f"/api/v1/bundles/{p}/contents").json()["contents"] == [
        {"lot_id": c, "quantity": 600}
    ]
    today = timezone.now().date().isoformat()
    assert api.get(f"/api/v1/lots/{a}/holders", {"as_of": today}).status_code == 200
    bad = api.get(f"/api/v1/lots/{a}/holders", {"as_of": "last tuesday"})
    assert bad.status_code == 400
    assert "neither a block number nor an ISO date" in bad.json()["errors"]["as_of"][0]
    early = api.get(f"/api/v1/lots/{a}/holders", {"as_of": "2001-01-01"})
    assert early.status_code == 400
    assert "Nothing was recorded" in early.json()["detail"]


def test_figures_roll_up_and_every_proof_verifies(product: dict[str, Any]) -> None:
    api = member("distributor")
    c, p = product["c"], product["p"]
    # C: (800 x 4 + 400 x 2) / 600 = 6.667 g/g; the pallet carries 600 g of it: 4000 g.
    cobalt = api.get(f"/api/v1/lots/{c}/figures").json()
    assert cobalt["carbon_footprint_g_co2e_per_unit"] == "6.667"
    figures = api.get(f"/api/v1/lots/{p}/figures").json()
    assert figures["carbon_footprint_g_co2e_per_unit"] == "4000.000"
    assert figures["carbon_footprint_complete"] is True
    assert figures["certified_input_share"] == "1.000"

    public = Client()
    transformed = ChainEvent.objects.get(event="LotsTransformed")
    proof = public.get(f"/proofs/{transformed.transaction_hash}/{transformed.log_index}.json")
    assert proof.status_code == 200
    document = proof.json()
    assert verify_document(document).ok
    assert public.get(f"/proofs/{transformed.transaction_hash}/999.json").status_code == 404

    pack = json.loads(public.get(f"/passport/{p}/evidence.json").content)
    report = verify_document(pack)
    assert report.ok, report.summary()
    proven = {(d["event"], d["transaction_hash"]) for d in pack["proofs"]}
    assert ("LotsTransformed", transformed.transaction_hash) in proven
    assert {e for e, _ in proven} >= {"LotRegistered", "LotsBundled", "CertificateIssued"}
    assert [c["status"] for c in pack["certificates"]] == ["valid", "valid"]
    assert pack["figures"]["carbon_footprint_g_co2e_per_unit"] == "4000.000"

    tampered = json.loads(json.dumps(pack))
    tampered["proofs"][0]["args"] = {**tampered["proofs"][0]["args"], "quantity": 1}
    assert not verify_document(tampered).ok

    verify_page = public.post("/verify", {"proof": _upload("pack.json", pack)})
    assert verify_page.status_code == 200
    assert b"valid" in verify_page.content
    bad_page = public.post("/verify", {"proof": _upload("pack.json", tampered)})
    assert b"rejected" in bad_page.content
    not_json = public.post("/verify", {"proof": _upload("x.json", None, raw=b"{nope")})
    assert not_json.status_code == 400
    assert b"not a JSON file" in not_json.content
    no_file = public.post("/verify", {})
    assert no_file.status_code == 400
    assert b"Choose a proof" in no_file.content
    assert public.get("/passport/987654/evidence.json").status_code == 404


def _upload(name: str, document: Any, raw: bytes | None = None) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = raw if raw is not None else json.dumps(document).encode()
    return SimpleUploadedFile(name, content, content_type="application/json")


def test_the_passport_is_public_and_participants_see_more(product: dict[str, Any]) -> None:
    p = product["p"]
    page = Client().get(f"/passport/{p}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Katanga Cobalt Mine" in html
    assert "Ore A" in html
    assert "4 kg CO2e per bundle" in html
    assert "EuroLogistics" in html
    assert 'id="restricted"' not in html
    assert 'id="public-tier"' in html
    assert "/proofs/" in html  # each figure links to its proof
    inside = member("retailer").get(f"/passport/{p}").content.decode()
    assert 'id="restricted"' in inside
    assert product["net"].orgs["mine"].address in inside
    assert Client().get("/passport/987654").status_code == 404

    lot_page = member("refinery").get(f"/lots/{product['c']}").content.decode()
    assert 'id="lineage-up"' in lot_page
    assert "<svg" in lot_page
    assert f"/passport/{product['c']}" in lot_page


def test_revoking_a_certificate_notifies_exactly_the_holders_downstream(
    product: dict[str, Any],
) -> None:
    net = product["net"]
    a, c, p = product["a"], product["c"], product["p"]
    api = member("certifier")
    impact = api.get(f"/api/v1/certificates/{product['certificate_a']}/impact").json()
    assert {lot["lot_id"] for lot in impact["lots"]} == {a, c, p}
    assert not Notification.objects.exists()

    done(
        net,
        certificate_revoke(
            organisation=net.orgs["certifier"],
            certificate_id=product["certificate_a"],
            reason="audit found a falsified assay",
        ),
    )
    notified = {n.organisation.slug: n for n in Notification.objects.all()}
    # The refinery still holds 200 g of A; the distributor holds the pallet. The mine holds
    # none of these any more, and cobalt C sits in the pallet's escrow.
    assert set(notified) == {"refinery", "distributor"}
    assert str(p) in notified["distributor"].body
    assert "falsified assay" in notified["distributor"].body
    revoked = ChainEvent.objects.filter(event="CertificateRevoked")
    assert notifications_emit(chain_id=net.manifest.chain_id, events=revoked) == 0  # no doubles
    distributor = member("distributor")
    dashboard = distributor.get("/").content.decode()
    assert f"Certificate {product['certificate_a']} was revoked" in dashboard
    impact_page = distributor.get(notified["distributor"].link).content.decode()
    # The refinery's leftover ore is not the distributor's to see (lots.selectors.scope.StockScope);
    # the refinery, a custody party of every lot here, sees both.
    assert "EuroLogistics: lots" in impact_page
    assert "Nordic Refinery: lots" not in impact_page
    refinery_page = member("refinery").get(notified["distributor"].link).content.decode()
    assert "Nordic Refinery: lots" in refinery_page
    assert "EuroLogistics: lots" in refinery_page
    distributor.post("/notifications/read")
    assert "was revoked" not in distributor.get("/").content.decode()
    assert Notification.objects.get(organisation__slug="refinery").read_at is None  # theirs
    assert api.get("/api/v1/certificates/987654/impact").status_code == 404
    assert distributor.get("/certificates/987654/impact").status_code == 404

    figures = api.get(f"/api/v1/lots/{p}/figures").json()
    assert figures["carbon_footprint_complete"] is False
    assert figures["certified_input_share"] == "0.333"  # only B's 400 of 1200 g


def test_the_sustainability_dashboard_and_its_csv(product: dict[str, Any]) -> None:
    refinery = member("refinery")
    page = refinery.get("/sustainability")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Cobalt" in html
    assert "<svg" in html
    csv = refinery.get("/sustainability/product_lines.csv")
    assert csv["Content-Type"].startswith("text/csv")
    rows = csv.content.decode().strip().splitlines()
    assert rows[0].startswith("Product line,Lots,Quantity,Footprint per unit (certified lots)")
    cobalt = next(r for r in rows if r.startswith("Cobalt,"))
    assert cobalt.split(",")[1:4] == ["1", "600 g", "6.667 g CO2e per g"]
    partners = refinery.get("/sustainability/partners.csv").content.decode()
    assert "Katanga Cobalt Mine,Nordic Refinery,2,1.5 kg" in partners
    assert refinery.get("/sustainability/nope.csv").status_code == 404
    assert Client().get("/sustainability").status_code == 302  # login first
