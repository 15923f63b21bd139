"""Every role's main task in a real browser, from login to confirmation, using only what the
pages offer: links, buttons and pickers (no typed URLs, no typed lot or handoff ids), on a
desktop and on a phone. On the phone no page scrolls sideways. Screenshots of every step
are kept in test-artifacts/browser/walk-<viewport>-*.png.

The story: the mine registers ore and hands it to the refinery, which accepts it and
refines it; the certifier finds the refined lot and certifies it; the refinery hands it to
the distributor, who accepts it and hands it on to the retailer; the retailer (who accepts
only QUALITY-certified lots) accepts it and opens its public passport; the auditor reads
the consortium's lots. Between two clicks `network.settle()` does what the workers do."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.browser import DESKTOP, PHONE, browser, log_in, new_page, shot
from tests.webapp.network import PASSWORD, Network
from webapp.lots.services import acceptance_policy_set
from webapp.organisations.models import Organisation
from webapp.organisations.services import member_invite

__all__ = ["browser"]  # fixture used below

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

DEVICES = {"desktop": DESKTOP, "phone": PHONE}


class Walk:
    """One person's browser session: steps that click what the page offers."""

    def __init__(self, browser: Any, device: str, base: str, network: Network) -> None:
        self.page = new_page(browser, DEVICES[device])
        self.device, self.base, self.network = device, base, network
        self.step = 0

    def shot(self, what: str) -> None:
        self.step += 1
        shot(self.page, f"walk-{self.device}-{self.step:02d}-{what}")
        if self.device == "phone":
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{self.page.url} scrolls {overflow}px sideways on a phone"

    def log_in(self, username: str) -> None:
        self.page.context.clear_cookies()
        log_in(self.page, self.base, username)
        self.shot(f"{username}-dashboard")

    def nav(self, text: str) -> None:
        # Waiting for the navigation itself: a load-state wait alone can return on the
        # page being left, and what follows would then read the old page.
        with self.page.expect_navigation():
            self.page.locator("header nav a", has_text=text).first.click()

    def pick(self, select: str, containing: str) -> None:
        """Choose the option of `select` whose label contains `containing`."""
        option = self.page.locator(f"{select} option", has_text=containing).first
        self.page.select_option(select, value=option.get_attribute("value"))

    def submit_and_confirm(self, what: str) -> None:
        """Submit the form; on the operation's page, wait for the workers' turn and the
        page's own polling to show it confirmed."""
        self.page.click("#submit")
        self.page.wait_for_url(re.compile(r"/operations/[0-9a-f-]{36}$"))
        self.confirm(what)

    def confirm(self, what: str) -> None:
        self.network.settle()
        status = self.page.locator("#status")
        status.filter(has_text="confirmed").wait_for()
        self.shot(what)


def _walk(browser: Any, device: str, base: str, network: Network, tmp_path: Path) -> None:
    operator = Organisation.objects.get(is_operator=True)
    member_invite(organisation=operator, username="auditor", password=PASSWORD)
    retailer = network.orgs["retailer"]
    acceptance_policy_set(organisation=retailer, certificate_type="QUALITY", idempotency_key="")
    network.settle()
    walk = Walk(browser, device, base, network)
    page = walk.page

    # The mine registers ore and hands it to the refinery, picked by name.
    walk.log_in("mine")
    walk.nav("Register lot")
    page.fill("#id_name", "Cobalt ore, pit 9")
    page.fill("#id_quantity", "1200")
    walk.submit_and_confirm("mine-registered")
    walk.nav("Dashboard")
    page.locator("#inventory tr", has_text="Cobalt ore, pit 9").get_by_text("Hand off").click()
    walk.pick("#id_receiver", "Nordic Refinery")
    page.fill("#id_quantity", "1200")
    walk.shot("mine-handoff-form")
    walk.submit_and_confirm("mine-handed-off")

    # The refinery accepts it from its dashboard and refines it.
    walk.log_in("refinery")
    page.locator("#incoming tr", has_text="Katanga Cobalt Mine").get_by_role(
        "button", name="Accept"
    ).click()
    walk.confirm("refinery-accepted")
    walk.nav("Transform")
    walk.pick("#id_lot_1", "Cobalt ore, pit 9")
    page.fill("#id_quantity_1", "1200")
    page.fill("#id_process", "Refining run 9")
    page.fill("#id_output_name", "Refined cobalt, run 9")
    page.fill("#id_output_quantity", "300")
    walk.shot("refinery-transform-form")
    walk.submit_and_confirm("refinery-refined")

    # The certifier finds the refined lot among all it may see and certifies it.
    walk.log_in("certifier")
    walk.nav("Lots")
    page.get_by_role("link", name=re.compile("^All")).first.click()
    page.locator("#lots tr", has_text="Refined cobalt, run 9").get_by_role("link").first.click()
    walk.shot("certifier-lot")
    page.get_by_role("link", name=re.compile("Issue a certificate")).click()
    page.select_option("#id_certificate_type", "QUALITY")
    report = tmp_path / "quality-report.txt"
    report.write_text("Refined cobalt, run 9: quality report\n")
    page.set_input_files("#id_document", str(report))
    today = date.today()
    page.fill("#id_valid_from", (today - timedelta(days=1)).isoformat())
    page.fill("#id_valid_until", (today + timedelta(days=365)).isoformat())
    walk.submit_and_confirm("certifier-certified")

    # The refinery hands the refined cobalt to the distributor ...
    walk.log_in("refinery")
    page.locator("#inventory tr", has_text="Refined cobalt, run 9").get_by_text("Hand off").click()
    walk.pick("#id_receiver", "EuroLogistics")
    page.fill("#id_quantity", "300")
    walk.submit_and_confirm("refinery-handed-off")

    # ... who accepts it and hands it on to the retailer.
    walk.log_in("distributor")
    page.locator("#incoming tr", has_text="Nordic Refinery").get_by_role(
        "button", name="Accept"
    ).click()
    walk.confirm("distributor-accepted")
    walk.nav("Dashboard")
    page.locator("#inventory tr", has_text="Refined cobalt, run 9").get_by_text("Hand off").click()
    walk.pick("#id_receiver", "City Electronics")
    page.fill("#id_quantity", "300")
    walk.submit_and_confirm("distributor-handed-off")

    # The retailer accepts the certified lot and opens its public passport.
    walk.log_in("retailer")
    page.locator("#incoming tr", has_text="EuroLogistics").get_by_role(
        "button", name="Accept"
    ).click()
    walk.confirm("retailer-accepted")
    page.locator("#result-link a, #lot-link a").first.click()
    walk.shot("retailer-lot")
    page.locator("#passport-url").click()
    page.wait_for_url(re.compile(r"/passport/\d+$"))
    assert "Refined cobalt, run 9" in page.locator("h1").inner_text()
    walk.shot("retailer-passport")

    # The auditor reads across the consortium: the lots everyone registered.
    walk.log_in("auditor")
    walk.nav("Lots")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("^All")).first.click()
    page.locator("#lots tr", has_text="Refined cobalt, run 9").first.wait_for()
    assert page.locator("#lots tr", has_text="Refined cobalt, run 9").count() == 1
    assert page.locator("#lots tr", has_text="Cobalt ore, pit 9").count() == 1
    walk.shot("auditor-lots")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_every_role_does_its_main_task_with_only_what_the_pages_offer(
    browser: Any, device: str, live_server: Any, network: Network, tmp_path: Path
) -> None:
    _walk(browser, device, live_server.url, network, tmp_path)
