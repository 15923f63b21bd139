"""Portal actions in a real browser (Playwright driving Debian's Chromium, headless): the
navigation fits the role and a forbidden page says why; lots are picked, with the unit and
the held amount following the pick (static script, strict CSP); rows are added without
typing ids; the first Accept of a lot the receiver's policy refuses answers at once; a
rejection reaches the sender; cancelling asks first. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, settle_and_reload, shot
from tests.webapp.network import Network
from tests.webapp.test_portal_actions import register
from tests.webapp.test_provenance_flow import done, hand
from webapp.lots.services import acceptance_policy_set, handoff_initiate
from webapp.operations.models import Operation
from webapp.projections.models import HandoffVersion

__all__ = ["browser", "page"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def test_the_nav_fits_the_role_and_a_forbidden_page_says_why(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    log_in(page, base, "distributor")
    nav = page.locator("header nav").inner_text()
    assert "Hand off" in nav
    assert "Register lot" not in nav
    assert "Certify" not in nav
    page.goto(f"{base}/lots/new")
    assert page.locator("h1").inner_text() == "Not allowed"
    assert page.locator("#reason").inner_text() == (
        "Registering lots needs the MINER or MANUFACTURER role; EuroLogistics holds DISTRIBUTOR."
    )
    assert page.locator("#id_name").count() == 0
    shot(page, "actions-01-forbidden")


def test_lots_are_picked_and_the_quantity_field_follows_the_pick(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    ore = register(network, "Cobalt ore", 5000, "kg")
    slag = register(network, "Slag", 40, "bag")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, base, "mine")
    page.click("header nav >> text=Bundle")
    page.wait_for_load_state("load")  # the picker script listens only once it has run
    assert "pick a lot" in page.locator("#id_quantity_1_help").inner_text()
    page.select_option("#id_lot_1", str(ore))
    assert page.locator("#id_quantity_1_help").inner_text() == "in kg; you hold 5 t"
    page.select_option("#id_lot_2", str(slag))
    assert page.locator("#id_quantity_2_help").inner_text() == "in bag; you hold 40 bag"
    page.fill("#id_name", "Pallet 17")
    page.fill("#id_quantity_1", "6000")
    page.fill("#id_quantity_2", "40")
    page.click("#add-row")
    assert page.locator("#id_lot_4").count() == 1
    assert page.locator("#id_lot_1").input_value() == str(ore)
    page.click("#submit")
    error = page.locator("p.error[data-field=quantity_1]")
    assert error.inner_text() == f"You hold 5 t of lot {ore}; 6 t is more than that."
    shot(page, "actions-02-bundle-pick-error")
    assert not Operation.objects.filter(action="bundle.create").exists()
    page.fill("#id_quantity_1", "2000")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    settle_and_reload(page, network)
    page.wait_for_selector("#status:text('confirmed')")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_the_first_accept_answers_and_the_sender_hears_of_a_rejection(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    done(network, acceptance_policy_set(organisation=network.orgs["retailer"],
                                        certificate_type="QUALITY"))  # fmt: skip
    lot_id = register(network, "Cobalt ore", 100, "kg")
    hand(network, "mine", "distributor", lot_id, 100)

    log_in(page, base, "distributor")
    page.goto(f"{base}/handoffs/new?lot={lot_id}")
    page.select_option("#id_receiver", "retailer")
    page.fill("#id_quantity", "30")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    assert "City Electronics accepts only lots with a valid QUALITY certificate" in (
        page.locator("main").inner_text()
    )
    shot(page, "actions-03-offer-warning")
    network.settle()
    page.click("button:text('Log out')")

    log_in(page, base, "retailer")
    page.locator("#incoming").locator("button:text('Accept')").click()
    refusal = page.locator("#refusal").inner_text()
    assert f"Lot {lot_id} has no valid QUALITY certificate, which the receiver requires." in refusal
    assert "30 kg" in refusal
    shot(page, "actions-04-accept-refused")
    page.click("#refusal >> text=Reject it…")
    assert "EuroLogistics" in page.locator("#handoff").inner_text()
    page.fill("#id_reason", "no QUALITY certificate")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    network.settle()
    page.click("button:text('Log out')")

    log_in(page, base, "distributor")
    notes = page.locator("#notifications").inner_text()
    assert "City Electronics rejected" in notes
    assert "no QUALITY certificate" in notes
    shot(page, "actions-05-rejection-notified")


def test_cancel_asks_first_and_names_the_offer(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    lot_id = register(network, "Cobalt ore", 100, "kg")
    done(network, handoff_initiate(organisation=network.orgs["mine"], lot_id=lot_id,
                                   receiver=network.orgs["refinery"], quantity=25))  # fmt: skip
    log_in(page, base, "mine")
    page.locator("#outgoing").locator("text=Cancel…").click()
    offer = page.locator("#handoff").inner_text()
    assert "25 kg" in offer
    assert "Nordic Refinery" in offer
    assert not Operation.objects.filter(action="handoff.cancel").exists()
    shot(page, "actions-06-cancel-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    settle_and_reload(page, network)
    page.wait_for_selector("#status:text('confirmed')")
    handoff = HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True)
    assert handoff.status == "cancelled"
