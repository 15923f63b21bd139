"""Portal actions that fit the person: only the actions the organisation's roles allow are
offered (and a forbidden URL says why, with a 403, before any form), lots are picked from
what the organisation holds, a refused form keeps its document, a handoff the receiver's
policy forbids is refused on the first click and the sender is warned when offering it, the
acceptance policy and time zone have their page, a rejection reaches the sender, and
cancelling asks first. Run on a real anvil node and PostgreSQL."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve

from tests.webapp.network import MEMBERS, PASSWORD, Network
from tests.webapp.test_provenance_flow import certify, done, hand
from webapp.documents.models import Document
from webapp.lots.services import handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call
from webapp.operations.selectors import operations_in_flight
from webapp.operations.services import operation_queue
from webapp.organisations.services import member_invite
from webapp.portal.access import ACTIONS, allowed_actions
from webapp.projections.models import HandoffVersion, ParticipantVersion
from webapp.provenance.models import Notification

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def member(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def admin_of(net: Network, slug: str) -> Client:
    member_invite(
        organisation=net.orgs[slug], username=f"{slug}-admin", password=PASSWORD, is_admin=True
    )
    return member(f"{slug}-admin")


def register(net: Network, name: str = "Ore", quantity: int = 1000, unit: str = "kg") -> int:
    operation = done(
        net, lot_register(organisation=net.orgs["mine"], name=name, quantity=quantity, unit=unit)
    )
    return int(operation.lot_id or 0)


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


# ------------------------------------------------------------------ roles


FORBIDDEN_GETS = [
    (
        "distributor",
        "lot-register",
        "/lots/new",
        "Registering lots needs the MINER or MANUFACTURER",
    ),
    ("distributor", "transform", "/transformations/new", "Recording transformations needs"),
    ("mine", "certificate", "/certificates/new", "Issuing certificates needs the CERTIFIER role"),
    ("certifier", "handoff-initiate", "/handoffs/new", "Handing lots off needs the MINER"),
    ("certifier", "bundle", "/bundles/new", "Packing bundles needs"),
]


@pytest.mark.parametrize(("slug", "action", "path", "reason"), FORBIDDEN_GETS)
def test_a_forbidden_action_answers_403_with_the_reason_before_any_form(
    network: Network, slug: str, action: str, path: str, reason: str
) -> None:
    client = member(slug)
    for method in (client.get, client.post):
        before = Operation.objects.count()
        response = method(path, {"name": "x", "quantity": "5", "idempotency_key": "abcdef12"})
        assert response.status_code == 403
        body = text(response)
        assert reason in body
        name = network.orgs[slug].name
        assert f"{name} holds {MEMBERS[slug][1].name}" in body
        assert '<form method="post" enctype' not in body  # no action form shown
        assert Operation.objects.count() == before


def test_the_nav_shows_only_the_actions_of_the_role(network: Network) -> None:
    expected = {
        "mine": {"Register lot", "Hand off", "Bundle", "Transform"},
        "distributor": {"Hand off", "Bundle"},
        "certifier": {"Certify"},
    }
    every = {"Register lot", "Hand off", "Bundle", "Transform", "Certify"}
    for slug, shown in expected.items():
        nav = re.search(r"<nav>(.*?)</nav>", text(member(slug).get("/lots"))).group(1)
        links = set(re.findall(r">([^<]+)</a>", nav))
        assert links & every == shown, slug


# ------------------------------------------------------------------ the one-table crawl


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.forms.append(a.get("action") or "")


def _portal_name(url: str) -> str | None:
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.url_name if match.namespace == "portal" else None


def _crawl(client: Client, limit: int = 60) -> dict[str, set[str]]:
    """Portal pages reachable by links from the dashboard (GET only, same site, at most
    `limit`), each with the actions (ACTIONS names) its links and forms lead to. Links to
    actions are recorded, not followed: their pages are the actions themselves."""
    offered: dict[str, set[str]] = {}
    queue = ["/"]
    while queue and len(offered) < limit:
        path = queue.pop(0)
        if path in offered:
            continue
        offered[path] = set()
        response = client.get(path)
        assert response.status_code < 500, path
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        parser = Links()
        parser.feed(response.content.decode())
        for target in parser.links + parser.forms:
            name = _portal_name(urljoin(path, target or path))
            if name in ACTIONS:
                offered[path].add(name)
        for href in parser.links:
            parts = urlsplit(urljoin(path, href))
            name = _portal_name(parts.geturl())
            if parts.netloc or name is None or name in ACTIONS:
                continue
            if name not in {"document", "sustainability-csv"}:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return offered


def test_the_dashboard_offers_registering_only_to_makers(network: Network) -> None:
    assert 'href="/lots/new"' not in text(member("distributor").get("/"))


def test_no_page_a_role_reaches_offers_an_action_the_role_cannot_perform(
    network: Network,
) -> None:
    """For each demo login, crawl the portal from the dashboard and check that every link or
    form to an action is one its roles allow (webapp.portal.access.ACTIONS, the table the
    views enforce)."""
    lot_id = register(network, "Crawl ore")
    hand(network, "mine", "refinery", lot_id, 400)
    handoff_initiate(
        organisation=network.orgs["refinery"], lot_id=lot_id,
        receiver=network.orgs["distributor"], quantity=100,
    )  # fmt: skip
    network.settle()
    for slug in MEMBERS:
        can = allowed_actions(network.orgs[slug])
        offered = _crawl(member(slug))
        assert len(offered) > 3, slug
        wrong = {(page, name) for page, names in offered.items() for name in names - can}
        assert not wrong, f"{slug} is offered actions its roles forbid: {sorted(wrong)}"
        # The check can fail: the pages do offer the actions the role may perform.
        assert set().union(*offered.values()), slug


# ------------------------------------------------------------------ pickers


def test_pickers_list_only_held_lots_with_their_quantity_and_unit(network: Network) -> None:
    ore = register(network, "Cobalt ore", 5000, "kg")
    given = register(network, "Given away", 10, "kg")
    hand(network, "mine", "refinery", given, 10)
    page = text(member("mine").get("/handoffs/new"))
    assert f'value="{ore}"' in page
    assert f"{ore} · Cobalt ore · 5 t" in page
    assert f'value="{given}"' not in page
    assert 'data-unit="kg"' in page
    for path in ("/bundles/new", "/transformations/new"):
        rows = text(member("mine").get(path))
        assert f"{ore} · Cobalt ore" in rows
        assert f'value="{given}"' not in rows
        assert 'name="lot_3"' in rows
        assert 'name="add_row"' in rows
    receivers = re.search(r'<select name="receiver".*?</select>', page).group(0)
    assert "Nordic Refinery" in receivers
    assert "Katanga Cobalt Mine" not in receivers


def test_a_bad_pick_gets_a_form_error_and_changes_nothing(network: Network) -> None:
    ore = register(network, "Cobalt ore", 500, "kg")
    elsewhere = register(network, "Elsewhere", 10, "kg")
    hand(network, "mine", "refinery", elsewhere, 10)
    client = member("mine")
    before = Operation.objects.count()
    cases = [
        ("/handoffs/new", {"lot_id": str(elsewhere), "receiver": "refinery", "quantity": "1"},
         f"You hold no lot {elsewhere}"),
        ("/handoffs/new", {"lot_id": str(ore), "receiver": "refinery", "quantity": "501"},
         "You hold 500 kg of lot"),
        ("/handoffs/new", {"lot_id": "1" * 90, "receiver": "refinery", "quantity": "1"},
         "You hold no lot"),
        ("/handoffs/new", {"lot_id": str(ore), "receiver": "nobody", "quantity": "1"},
         "Choose one of the listed organisations"),
        ("/bundles/new", {"name": "P", "lot_1": str(ore), "quantity_1": "900"},
         "You hold 500 kg of lot"),
        ("/bundles/new", {"name": "P", "lot_1": str(elsewhere), "quantity_1": "1"},
         f"You hold no lot {elsewhere}"),
        ("/bundles/new", {"name": "P", "quantity_1": "1"}, "Choose the lot this quantity is of"),
        ("/bundles/new", {"name": "P"}, "Choose at least one lot and its quantity"),
        ("/transformations/new",
         {"process": "p", "lot_1": str(ore), "quantity_1": "600", "output_name": "C",
          "output_quantity": "1", "output_unit": "kg", "output_kind": "component"},
         "You hold 500 kg of lot"),
    ]  # fmt: skip
    for path, data, message in cases:
        response = client.post(path, {**data, "idempotency_key": "abcdefgh"})
        assert response.status_code == 200, (path, data)
        assert message in text(response), (path, data)
    assert Operation.objects.count() == before


def test_add_a_row_works_without_a_script_and_keeps_what_was_picked(network: Network) -> None:
    ore = register(network, "Cobalt ore", 500, "kg")
    response = member("mine").post(
        "/bundles/new",
        {"name": "Pallet", "lot_1": str(ore), "quantity_1": "7", "rows": "3", "add_row": "1"},
    )
    page = text(response)
    assert response.status_code == 200
    assert 'name="lot_4"' in page
    assert 'name="lot_5"' not in page
    assert 'class="error"' not in page
    assert re.search(rf'<option value="{ore}"[^>]*selected', page)
    assert 'value="7"' in page
    assert "you hold 500 kg" in page


def test_a_bundle_from_picked_rows_goes_on_chain(network: Network) -> None:
    a = register(network, "Ore A", 500, "kg")
    b = register(network, "Ore B", 300, "kg")
    response = member("mine").post(
        "/bundles/new",
        {"name": "Pallet", "lot_1": str(a), "quantity_1": "200", "lot_3": str(b),
         "quantity_3": "300", "rows": "3", "idempotency_key": "bundle-1x"},
    )  # fmt: skip
    assert response.status_code == 302, text(response)
    operation = Operation.objects.get(action="bundle.create")
    done(network, operation)


# ------------------------------------------------------------------ documents


def test_a_refused_register_form_keeps_its_document(network: Network) -> None:
    client = member("mine")
    upload = _file(b"assay: 11.2% Co")
    first = client.post(
        "/lots/new",
        {"name": "Ore", "quantity": "0", "unit": "kg", "kind": "raw_material",
         "document": upload, "idempotency_key": "register-1"},
    )  # fmt: skip
    page = text(first)
    assert first.status_code == 200
    assert "greater than zero" in page
    kept = Document.objects.get(uploaded_by=network.orgs["mine"])
    assert f'name="pending_document" value="{kept.sha256}"' in page
    assert "assay.txt is attached and kept" in page
    second = client.post(
        "/lots/new",
        {"name": "Ore", "quantity": "10", "unit": "kg", "kind": "raw_material",
         "pending_document": kept.sha256, "idempotency_key": "register-1"},
    )  # fmt: skip
    assert second.status_code == 302
    operation = done(network, Operation.objects.get(action="lot.register"))
    assert operation.request["documents"] == ["0x" + kept.sha256]


def test_a_pending_document_of_another_organisation_is_refused(network: Network) -> None:
    from webapp.documents.services import document_upload

    theirs = document_upload(
        organisation=network.orgs["refinery"], name="x.pdf", content=b"%PDF theirs",
        content_type="application/pdf",
    )  # fmt: skip
    response = member("mine").post(
        "/lots/new",
        {"name": "Ore", "quantity": "10", "unit": "kg", "kind": "raw_material",
         "pending_document": theirs.sha256, "idempotency_key": "register-2"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "No uploaded document has hash" in text(response)
    assert not Operation.objects.filter(action="lot.register").exists()


def _file(content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("assay.txt", content, content_type="text/plain")


# ------------------------------------------------------------------ acceptance policy


def _set_policy(net: Network, slug: str, certificate_type: str) -> None:
    client = admin_of(net, slug)
    response = client.post(
        "/settings/acceptance-policy",
        {"certificate_type": certificate_type, "idempotency_key": f"policy-{certificate_type}"},
    )
    assert response.status_code == 302, text(response)
    operation = Operation.objects.get(action="participant.acceptance_policy")
    done(net, operation)


def test_the_policy_page_changes_the_policy_as_an_operation(network: Network) -> None:
    retailer = network.orgs["retailer"]
    page = text(member("retailer").get("/settings"))
    assert "accepts lots without requiring a certificate" in page
    assert "Only City Electronics's admins change these" in page
    assert 'action="/settings/acceptance-policy"' not in page  # read-only for non-admins
    refused = member("retailer").post(
        "/settings/acceptance-policy", {"certificate_type": "QUALITY", "idempotency_key": "abcd"}
    )
    assert refused.status_code == 403
    assert "Only City Electronics's admins change its acceptance policy" in text(refused)
    assert not Operation.objects.filter(action="participant.acceptance_policy").exists()

    bad = admin_of(network, "retailer").post(
        "/settings/acceptance-policy", {"certificate_type": "GOLD", "idempotency_key": "abcd"}
    )
    assert bad.status_code == 400
    assert "Select a valid choice" in text(bad)

    client = member("retailer-admin")
    response = client.post(
        "/settings/acceptance-policy", {"certificate_type": "QUALITY", "idempotency_key": "pol-1"}
    )
    assert response.status_code == 302
    done(network, Operation.objects.get(action="participant.acceptance_policy"))
    row = ParticipantVersion.objects.get(account=retailer.address, block_to__isnull=True)
    assert row.acceptance_policy.startswith("0x" + b"QUALITY".hex())
    assert "must carry a valid <strong>QUALITY</strong> certificate" in text(
        client.get("/settings")
    )


def test_a_certifier_may_not_set_an_acceptance_policy(network: Network) -> None:
    client = admin_of(network, "certifier")
    assert "Setting an acceptance policy needs" in text(client.get("/settings"))
    response = client.post(
        "/settings/acceptance-policy", {"certificate_type": "QUALITY", "idempotency_key": "abcd"}
    )
    assert response.status_code == 403
    assert not Operation.objects.filter(action="participant.acceptance_policy").exists()


def test_only_admins_change_the_time_zone_to_a_listed_name(network: Network) -> None:
    mine = network.orgs["mine"]
    assert (
        member("mine").post("/settings/time-zone", {"time_zone": "Europe/Oslo"}).status_code == 403
    )
    admin = admin_of(network, "mine")
    bad = admin.post("/settings/time-zone", {"time_zone": "Mars/Olympus"})
    assert bad.status_code == 400
    assert "Choose a time zone from the list" in text(bad)
    mine.refresh_from_db()
    assert mine.time_zone == "UTC"
    assert admin.post("/settings/time-zone", {"time_zone": "Africa/Lubumbashi"}).status_code == 302
    mine.refresh_from_db()
    assert mine.time_zone == "Africa/Lubumbashi"
    assert "Africa/Lubumbashi" in text(member("mine").get("/settings"))


def test_the_first_accept_of_a_lot_failing_the_policy_shows_the_refusal(network: Network) -> None:
    _set_policy(network, "retailer", "QUALITY")
    lot_id = register(network, "Uncertified", 100, "kg")
    hand(network, "mine", "distributor", lot_id, 100)
    client = member("distributor")
    offered = client.post(
        "/handoffs/new",
        {"lot_id": str(lot_id), "receiver": "retailer", "quantity": "40",
         "idempotency_key": "offer-1xx"},
        follow=True,
    )  # fmt: skip
    warning = (
        f"City Electronics accepts only lots with a valid QUALITY certificate, and lot {lot_id}"
        " has none"
    )
    assert warning in text(offered)
    # The retailer clicks Accept while it still has an operation of its own in flight (the
    # general pre-flight then steps aside): the refusal still comes on this first click.
    network.settle()
    handoff = HandoffVersion.objects.get(lot_id=lot_id, status="open", block_to__isnull=True)
    retailer_org = network.orgs["retailer"]
    operation_queue(
        organisation=retailer_org, action="handoff.cancel", request={"handoff_id": 999},
        call=checked_call(
            "Lots", "cancelHandoff", 999, lot_id, retailer_org.address, retailer_org.address
        ),
    )  # fmt: skip
    assert operations_in_flight(chain_id=settings.CHAIN_ID, sender=retailer_org.address)
    retailer = member("retailer")
    response = retailer.post(
        f"/handoffs/{handoff.handoff_id}/accept", {"idempotency_key": "accept-1x"}
    )
    assert response.status_code == 409
    page = text(response)
    assert f"Lot {lot_id} has no valid QUALITY certificate, which the receiver requires." in page
    assert "40 kg" in page
    assert "EuroLogistics" in page
    accepts = Operation.objects.filter(
        action="handoff.accept", request__handoff_id=int(handoff.handoff_id)
    )
    assert not accepts.exists()

    certify(network, lot_id, 3)  # a CARBON_FOOTPRINT certificate does not meet the policy
    assert (
        retailer.post(
            f"/handoffs/{handoff.handoff_id}/accept", {"idempotency_key": "accept-2x"}
        ).status_code
        == 409
    )


def test_no_warning_when_the_receiver_has_no_policy(network: Network) -> None:
    lot_id = register(network, "Ore", 100, "kg")
    response = member("mine").post(
        "/handoffs/new",
        {"lot_id": str(lot_id), "receiver": "refinery", "quantity": "10",
         "idempotency_key": "offer-2xx"},
        follow=True,
    )  # fmt: skip
    assert "accepts only lots" not in text(response)
    assert Operation.objects.filter(action="handoff.initiate").count() == 1


# ------------------------------------------------------------------ reject and cancel


def test_reject_names_the_handoff_and_the_sender_is_told_why(network: Network) -> None:
    lot_id = register(network, "Cobalt ore", 100, "kg")
    done(network, handoff_initiate(
        organisation=network.orgs["mine"], lot_id=lot_id, receiver=network.orgs["refinery"],
        quantity=60,
    ))  # fmt: skip
    handoff = HandoffVersion.objects.get(lot_id=lot_id, status="open", block_to__isnull=True)
    client = member("refinery")
    page = text(client.get(f"/handoffs/{handoff.handoff_id}/reject"))
    assert str(lot_id) in page
    assert "Cobalt ore" in page
    assert "60 kg" in page
    assert "Katanga Cobalt Mine" in page
    assert "not an open offer" in text(member("mine").get(f"/handoffs/{handoff.handoff_id}/reject"))
    response = client.post(
        f"/handoffs/{handoff.handoff_id}/reject",
        {"reason": "wet ore, moisture 14%", "idempotency_key": "reject-1x"},
    )
    assert response.status_code == 302
    done(network, Operation.objects.get(action="handoff.reject"))
    note = Notification.objects.get(organisation=network.orgs["mine"])
    assert "Nordic Refinery rejected" in note.subject
    assert "wet ore, moisture 14%" in note.body
    assert f"lot {lot_id}" in note.body
    assert not Notification.objects.filter(organisation=network.orgs["refinery"]).exists()
    assert "wet ore, moisture 14%" in text(member("mine").get("/"))


def test_cancel_asks_for_confirmation_first(network: Network) -> None:
    lot_id = register(network, "Cobalt ore", 100, "kg")
    done(network, handoff_initiate(
        organisation=network.orgs["mine"], lot_id=lot_id, receiver=network.orgs["refinery"],
        quantity=25,
    ))  # fmt: skip
    handoff = HandoffVersion.objects.get(lot_id=lot_id, status="open", block_to__isnull=True)
    client = member("mine")
    dashboard = text(client.get("/"))
    assert f'href="/handoffs/{handoff.handoff_id}/cancel"' in dashboard
    page = text(client.get(f"/handoffs/{handoff.handoff_id}/cancel"))
    assert "25 kg" in page
    assert "Nordic Refinery" in page
    assert str(lot_id) in page
    assert not Operation.objects.filter(action="handoff.cancel").exists()
    assert (
        member("refinery")
        .post(f"/handoffs/{handoff.handoff_id}/cancel", {"idempotency_key": "cancel-0x"})
        .status_code
        == 200
    )  # not its offer: the page says so, nothing queued
    assert not Operation.objects.filter(action="handoff.cancel").exists()
    response = client.post(
        f"/handoffs/{handoff.handoff_id}/cancel", {"idempotency_key": "cancel-1x"}
    )
    assert response.status_code == 302
    done(network, Operation.objects.get(action="handoff.cancel"))


def test_every_action_in_the_table_has_a_portal_url() -> None:
    from django.urls import reverse

    subscription = "00000000-0000-0000-0000-000000000001"
    for name in ACTIONS:
        args: list[Any] = [1] if name not in {"lot-register", "transform", "handoff-initiate",
                                              "bundle", "certificate", "acceptance-policy",
                                              "subscription-create"} else []  # fmt: skip
        if name.startswith(("subscription-", "dead-letters-")) and args:
            args = [subscription]
        elif name == "dead-letter-replay":
            args = [subscription, 1]
        assert reverse(f"portal:{name}", args=args)
