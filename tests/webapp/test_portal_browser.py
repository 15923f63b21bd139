"""The portal in a real browser (Playwright driving Debian's Chromium, headless): the mine
registers a lot and hands it to the refinery; the refinery accepts it and sees it in its
inventory. A screenshot of every page is kept in test-artifacts/browser/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, settle_and_reload, shot
from tests.webapp.network import Network
from webapp.operations.models import Operation

__all__ = ["browser", "page"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def test_mine_hands_a_lot_to_the_refinery_who_accepts_it(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    log_in(page, base, "mine")
    shot(page, "01-mine-dashboard")

    page.click("text=Register lot")
    page.fill("#id_name", "Cobalt ore, pit 9")
    page.fill("#id_quantity", "0")
    page.click("#submit")
    error = page.locator("p.error[data-field=quantity]")
    assert "greater than zero" in error.inner_text()
    shot(page, "02-register-lot-field-error")
    assert not Operation.objects.filter(action="lot.register").exists()

    page.fill("#id_quantity", "5000")
    page.fill("#id_gtin", "09506000134352")
    page.fill("#id_batch", "PIT9-01")
    page.set_input_files(
        "#id_document",
        files=[{"name": "assay.txt", "mimeType": "text/plain", "buffer": b"assay: 11.2% Co"}],
    )
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    assert page.locator("#status").inner_text() in {"queued", "submitted", "mined"}
    assert page.locator("h1").inner_text() == "Register lot \u2018Cobalt ore, pit 9\u2019 (5 t)"
    assert "goes on chain in a moment" in page.locator("main > .flash.success").inner_text()
    shot(page, "03-register-operation-queued")
    network.settle()  # the page follows by itself: no reload
    page.wait_for_selector("#status:text('confirmed')")
    page.wait_for_selector("#result-link a")
    lot_id = int(page.locator("#result-link a").inner_text().removeprefix("Open lot "))
    assert page.locator("#outcome").inner_text() == f"Lot {lot_id} registered"
    assert page.locator("main > .flash").count() == 0  # no longer "in a moment"
    assert page.locator("#result-link a").get_attribute("href") == f"/lots/{lot_id}"
    shot(page, "04-register-operation-confirmed")

    page.click("#result-link a")
    assert page.locator("h1").inner_text() == f"Lot {lot_id}: Cobalt ore, pit 9"
    assert "matches the document" in page.locator("#state").inner_text()
    shot(page, "05-lot-page")

    page.click("text=Hand off…")
    page.select_option("#id_receiver", "refinery")
    page.fill("#id_quantity", "5000")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    settle_and_reload(page, network)
    page.wait_for_selector("#status:text('confirmed')")
    shot(page, "06-handoff-confirmed")
    page.click("button:text('Log out')")

    log_in(page, base, "refinery")
    incoming = page.locator("#incoming")
    assert "Katanga Cobalt Mine" in incoming.inner_text()
    shot(page, "07-refinery-dashboard-incoming")
    incoming.locator("button:text('Accept')").click()
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    settle_and_reload(page, network)
    page.wait_for_selector("#status:text('confirmed')")
    shot(page, "08-accept-confirmed")

    page.goto(f"{base}/")
    inventory = page.locator("#inventory")
    assert re.search(rf"{lot_id}\s+Cobalt ore, pit 9\s+raw material\s+5 t", inventory.inner_text())
    assert "Nothing is waiting for you." in page.locator("#incoming").inner_text()
    shot(page, "09-refinery-inventory")

    page.goto(f"{base}/lots/{lot_id}")
    history = page.locator("#history").inner_text()
    assert "Katanga Cobalt Mine registered 5 t" in history
    assert "Nordic Refinery accepted 5 t from Katanga Cobalt Mine (handoff" in history
    shot(page, "10-lot-history")
