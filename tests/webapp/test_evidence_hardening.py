"""Evidence packs that cannot lie and cannot be abused, on a real anvil node and PostgreSQL.

The verifier rebuilds every summary claim from the proven facts and rejects an edited
summary naming the claim, on the command line and on /verify; the pack comes in the
passport's tiers; its proofs are stored, so a second download asks the node nothing (it
works with the node stopped); anonymous downloads are rate-limited; and a pack that
needs the node while it is down gets a 503 with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone

from contracts.proofs.verify import verify_document
from contracts.proofs.verify.__main__ import main as verifier_main
from deploy.local.node import AnvilNode
from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import done, member, product  # noqa: F401 (fixture)
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.chain.models import ChainEvent
from webapp.documents.services import document_upload
from webapp.operations.calls import ContractCall
from webapp.operations.services import operation_queue
from webapp.passport.models import EventProof
from webapp.projections.models import CertificateVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STRANGER = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def story(product: dict[str, Any]) -> dict[str, Any]:  # noqa: F811 (the imported fixture)
    """The flow's pallet, plus a revoked recycled-content certificate on ore B and a
    quarantine of ore A that the refinery set and lifted."""
    net: Network = product["net"]
    certifier, refinery = net.orgs["certifier"], net.orgs["refinery"]
    document = document_upload(
        organisation=certifier,
        name="recycled.pdf",
        content=b"%PDF recycled content of ore B",
        content_type="application/pdf",
    )
    now = timezone.now()
    done(
        net,
        certificate_issue(
            organisation=certifier,
            lot_id=product["b"],
            certificate_type="RECYCLED_CONTENT",
            document_hash=document.hash_hex,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=30),
            claims={"RECYCLED_PERMILLE": 250},
        ),
    )
    recycled = CertificateVersion.objects.filter(block_to__isnull=True).order_by("-certificate_id")[
        0
    ]
    done(
        net,
        certificate_revoke(
            organisation=certifier,
            certificate_id=int(recycled.certificate_id),
            reason="audit found mixed feedstock",
        ),
    )
    for function, reason in (("setQuarantine", "humidity"), ("clearQuarantine", "dried")):
        operation, _ = operation_queue(
            organisation=refinery,
            action=function,
            request={"lot_id": product["a"], "reason": reason},
            call=ContractCall(contract="Lots", function=function, args=(product["a"], reason)),
            lot_id=product["a"],
        )
        done(net, operation)
    return {**product, "revoked_certificate": int(recycled.certificate_id)}


def download(client: Client, lot_id: int, **headers: str) -> Any:
    return client.get(f"/passport/{lot_id}/evidence.json", **headers)


def upload(pack: dict[str, Any]) -> Any:
    body = json.dumps(pack).encode()
    return Client().post(
        "/verify", {"proof": SimpleUploadedFile("pack.json", body, "application/json")}
    )


def cli(
    pack: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / f"pack-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(pack))
    code = verifier_main([str(path)])
    return code, capsys.readouterr().out


def edited(pack: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copy = json.loads(json.dumps(pack))
    change(copy)
    return copy


def test_each_edited_summary_claim_is_rejected_by_the_cli_and_the_page_naming_it(
    story: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = story["p"]
    pack = json.loads(download(member("retailer"), p).content)
    assert pack["tier"] == "participant"
    report = verify_document(pack)
    assert report.ok, report.summary()
    assert {f.name for f in report.facts if f.subject == "summary"} >= {
        "lineage",
        "custody",
        "certificates",
        "quarantines",
        "figures",
    }
    revoked = next(
        i
        for i, c in enumerate(pack["certificates"])
        if c["certificate_id"] == story["revoked_certificate"]
    )
    assert pack["certificates"][revoked]["status"] == "revoked"
    assert [q["event"] for q in pack["quarantines"]] == ["QuarantineSet", "QuarantineCleared"]
    receiver = pack["custody"][0]["receiver"]

    def other_receiver(d: dict[str, Any]) -> None:
        d["custody"][0]["receiver"] = STRANGER
        d["labels"]["organisations"][STRANGER] = "Shady Traders"

    def unrevoked(d: dict[str, Any]) -> None:
        d["certificates"][revoked].update(status="valid", revoked=False, revoke_reason="")

    def no_quarantine(d: dict[str, Any]) -> None:
        d["quarantines"] = []

    def edge(d: dict[str, Any]) -> None:
        d["lineage"]["edges"][0]["quantity"] += 100

    cases: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (other_receiver, "custody[0].receiver differs from the proven handoff"),
        (lambda d: d["custody"][0].update(quantity=7), "custody[0].quantity"),
        (unrevoked, f"certificates[{revoked}].status"),
        (
            lambda d: d["figures"].update(carbon_footprint_g_co2e_per_unit="1.000"),
            "figures.carbon_footprint_g_co2e_per_unit",
        ),
        (
            lambda d: d["figures"].update(recycled_content_permille="250.000"),
            "figures.recycled_content_permille",
        ),
        (
            lambda d: d["figures"].update(certified_input_share="0.500"),
            "figures.certified_input_share",
        ),
        (edge, "lineage.edges[0].quantity"),
        (lambda d: d["lineage"]["edges"].pop(), "lineage.edges differs"),
        (no_quarantine, "quarantines differs"),
        (lambda d: d["quarantines"][0].update(reason="nothing"), "quarantines[0].reason"),
        (lambda d: d.update(organic=True), "the pack carries organic"),
        (lambda d: d.pop("custody"), "the pack has no custody section"),
    ]
    for change, claim in cases:
        tampered = edited(pack, change)
        found = verify_document(tampered)
        assert not found.ok, (claim, found.summary())
        assert any(claim in f.reason for f in found.rejected), (claim, found.summary())
        assert all(f.ok for f in found.facts if f.subject.startswith("proofs[")), claim
        code, out = cli(tampered, tmp_path, capsys)
        assert code == 1, (claim, out)
        assert claim in out, (claim, out)
        page = upload(tampered)
        assert page.status_code == 200
        assert b"rejected" in page.content
        assert claim.encode() in page.content.replace(b"&#x27;", b"'"), claim

    # /verify shows what the proofs say, not what the file says.
    page = upload(edited(pack, other_receiver)).content.decode()
    shown = page[page.index('id="recomputed-custody"') :]
    shown = shown[: shown.index("</table>")]
    assert receiver in shown
    assert STRANGER not in shown
    assert "Shady Traders" not in shown
    figures = page[page.index('id="recomputed-figures"') :].split("</p>")[0]
    assert "4 kg CO2e per unit" in figures

    # The command line as a third party runs it.
    path = tmp_path / "good.json"
    path.write_text(json.dumps(pack))
    run = subprocess.run(
        [sys.executable, "-m", "contracts.proofs.verify", str(path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout
    assert "VALID" in run.stdout.splitlines()[-1], run.stdout
    assert "off-chain labels" in run.stdout
    path.write_text(json.dumps(edited(pack, other_receiver)))
    run = subprocess.run(
        [sys.executable, "-m", "contracts.proofs.verify", str(path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "custody[0].receiver differs" in run.stdout


def test_names_are_labels_the_verifier_shows_but_never_claims_to_prove(
    story: dict[str, Any],
) -> None:
    pack = json.loads(download(Client(), story["p"]).content)
    receiver = pack["custody"][0]["receiver"]
    assert pack["labels"]["organisations"][receiver] == "EuroLogistics"
    renamed = edited(pack, lambda d: d["labels"]["organisations"].update({receiver: "Acme"}))
    report = verify_document(renamed)
    assert report.ok  # a label is not a chain fact: nothing to reject, but it says so
    assert any("off-chain labels" in n for n in report.notes)
    assert report.recomputed is not None
    assert report.recomputed["custody"][0]["receiver"] == receiver


def test_the_verifier_recomputes_the_apps_figures_for_every_lot_of_the_product(
    story: dict[str, Any],
) -> None:
    api = member("distributor")
    for lot in ("a", "b", "c", "p"):
        lot_id = story[lot]
        pack = json.loads(download(member("retailer"), lot_id).content)
        report = verify_document(pack)
        assert report.ok, (lot, report.summary())
        assert report.recomputed is not None
        app = api.get(f"/api/v1/lots/{lot_id}/figures").json()
        for key in (
            "carbon_footprint_g_co2e_per_unit",
            "carbon_footprint_complete",
            "recycled_content_permille",
            "certified_input_share",
            "certificates_used",
            "transformations_crossed",
        ):
            assert report.recomputed["figures"][key] == app[key], (lot, key)


def test_the_public_pack_leaves_out_what_the_public_passport_hides_and_still_verifies(
    story: dict[str, Any],
) -> None:
    p, net = story["p"], story["net"]
    public = json.loads(download(Client(), p).content)
    inside = json.loads(download(member("retailer"), p).content)
    assert (public["tier"], inside["tier"]) == ("public", "participant")
    assert verify_document(public).ok
    assert verify_document(inside).ok

    summary = {k: v for k, v in public.items() if k != "proofs"}
    text = json.dumps(summary)
    assert "holders" not in summary
    assert all("creator" not in n for n in public["lineage"]["nodes"])
    assert all("document_hash" not in c for c in public["certificates"])
    for c in CertificateVersion.objects.all():
        assert c.document_hash not in text
    assert net.orgs["mine"].address not in text  # the ores' creator, shown by name only

    assert all("creator" in n for n in inside["lineage"]["nodes"])
    assert all(c["document_hash"].startswith("0x") for c in inside["certificates"])
    # Holders follow the one stock rule: the retailer never touched ore A, so it sees no
    # one's stock of it; the refinery, which held it, sees its own 200 units left.
    assert inside["holders"][str(story["a"])] == []
    refinery = json.loads(download(member("refinery"), p).content)
    assert {"address": net.orgs["refinery"].address, "quantity": 200} in refinery["holders"][
        str(story["a"])
    ]
    assert verify_document(refinery).ok

    # A public pack that smuggles in a hidden field is not what the proofs support.
    smuggled = edited(public, lambda d: d["certificates"][0].update(document_hash="0x" + "11" * 32))
    assert "certificates[0].document_hash" in " ".join(verify_document(smuggled).reasons())


def test_a_second_download_asks_the_node_nothing_and_a_new_one_gets_503_while_it_is_down(
    own_node: AnvilNode, story: dict[str, Any], network: Network, node: AnvilNode
) -> None:
    """On a node of its own: it stops it."""
    p, a = story["p"], story["a"]
    first = download(Client(), p)
    assert first.status_code == 200
    stored = EventProof.objects.count()
    assert stored == len(first.json()["proofs"])

    node.stop()
    again = download(Client(), p)
    assert again.status_code == 200, again.content[:300]
    assert again.json()["proofs"] == first.json()["proofs"]
    assert download(member("retailer"), p).status_code == 200  # same proofs, other tier
    assert EventProof.objects.count() == stored

    # Ore A's own handoffs were never proven: that pack needs the node.
    page = download(Client(), a)
    assert page.status_code == 503
    assert page["Retry-After"]
    assert b"chain node is not reachable" in page.content
    problem = download(Client(), a, HTTP_ACCEPT="application/json")
    assert problem.status_code == 503
    assert problem["Content-Type"] == "application/problem+json"
    assert "not reachable" in problem.json()["detail"]
    handoff = ChainEvent.objects.filter(event="HandoffAccepted", args__lotId=a).first()
    assert handoff is not None
    proof = Client().get(
        f"/proofs/{handoff.transaction_hash}/{handoff.log_index}.json",
        HTTP_ACCEPT="application/json",
    )
    assert proof.status_code == 503
    assert "not reachable" in proof.json()["detail"]


@override_settings(EVIDENCE_ANONYMOUS_RATE="2/hour")
def test_anonymous_downloads_are_rate_limited_per_address(story: dict[str, Any]) -> None:
    p = story["p"]
    anonymous = Client(REMOTE_ADDR="203.0.113.7")
    assert download(anonymous, p).status_code == 200
    assert download(anonymous, p).status_code == 200
    refused = download(anonymous, p)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3601
    problem = download(anonymous, p, HTTP_ACCEPT="application/json")
    assert problem.status_code == 429
    assert problem["Content-Type"] == "application/problem+json"
    assert "Too many evidence packs" in problem.json()["detail"]
    assert download(Client(REMOTE_ADDR="198.51.100.2"), p).status_code == 200
    assert download(member("retailer"), p).status_code == 200  # participants are not limited

    # Behind the trusted proxy every visitor arrives from the proxy's address: each is
    # counted by the address the proxy saw, not all together.
    with override_settings(TRUSTED_PROXY=True):
        proxy = Client(REMOTE_ADDR="10.0.0.1")
        for _ in range(2):
            assert download(proxy, p, HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 200
        assert download(proxy, p, HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 429
        assert download(proxy, p, HTTP_X_FORWARDED_FOR="192.0.2.11").status_code == 200


def test_after_a_reorganisation_a_pack_is_proven_from_the_new_blocks_never_the_stored_ones(
    product: dict[str, Any],  # noqa: F811 (the imported fixture)
    node: AnvilNode,
) -> None:
    net: Network = product["net"]
    p = product["p"]
    before = ChainEvent.objects.get(event="HandoffAccepted", args__lotId=p)
    assert download(Client(), p).status_code == 200
    assert EventProof.objects.filter(block_hash=before.block_hash.lower()).exists()

    # The block holding the pallet's acceptance is replaced by an empty one; the same
    # signed transaction then lands in the next block.
    raw = net.w3.provider.make_request(
        "eth_getRawTransactionByHash",  # type: ignore[arg-type]
        [before.transaction_hash],
    )["result"]
    assert net.w3.eth.block_number == before.block_number
    net.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
    net.w3.provider.make_request("eth_sendRawTransaction", [raw])  # type: ignore[arg-type]
    net.index()
    after = ChainEvent.objects.get(event="HandoffAccepted", args__lotId=p)
    assert after.block_hash != before.block_hash

    pack = download(Client(), p).json()
    hashes = {proof["block_hash"] for proof in pack["proofs"]}
    assert after.block_hash.lower() in hashes
    assert before.block_hash.lower() not in hashes
    assert pack["as_of"]["block_hash"] == net.w3.eth.get_block("latest")["hash"].to_0x_hex()
    report = verify_document(pack, rpc_url=node.url)
    assert report.ok, report.summary()
