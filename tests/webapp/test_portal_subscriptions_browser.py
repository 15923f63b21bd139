"""The subscriptions page in a real browser: the nav's link, a subscription created to a
receiver on loopback (one built on the `standardwebhooks` package, verifying every
request), its secret shown once, a test event sent, and the delivery log following a
delivery by itself (polling, no reload by hand). Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, shot
from tests.webapp.network import PASSWORD
from tests.webapp.portal_subscriptions import _loopback, receiver
from tests.webapp.streams_world import Receiver, Store, lot_registered, organisation
from webapp.organisations.services import member_invite
from webapp.streams.delivery import streams_deliver_due

__all__ = ["_loopback", "browser", "page", "receiver"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_subscription_made_in_the_portal_delivers_and_its_log_follows(
    page: Any, live_server: Any, receiver: Receiver
) -> None:
    member_invite(organisation=organisation("alpha", 0xA1), username="alice", password=PASSWORD)
    base = live_server.url
    log_in(page, base, "alice")
    page.click("nav >> text=Subscriptions")
    page.wait_for_url(f"{base}/subscriptions")
    page.click("#subscription-new")
    page.fill("#id_name", "Warehouse ERP")
    page.fill("#id_url", receiver.url)
    page.check("input[name=start][value=oldest]")
    page.check("input[name=event_types][value=LotRegistered]")
    shot(page, "subscriptions-01-new")
    page.click("#submit")
    secret = page.locator("#signing-secret").inner_text()
    assert secret.startswith("whsec_")
    assert "only time it is shown" in page.content()
    shot(page, "subscriptions-02-secret")
    receiver.secrets.append(secret)

    page.click("#to-subscription")
    page.wait_for_url(re.compile(r".*/subscriptions/[0-9a-f-]+$"))
    assert secret not in page.content()
    assert page.locator("#state").inner_text() == "active"
    page.click("#send-test")
    page.wait_for_selector(".flash >> text=The test event was delivered")
    first = page.locator("#log-rows tr").first
    assert first.locator("td").nth(1).inner_text() == "test event"
    assert first.locator(".badge").inner_text() == "delivered"
    (test_delivery,) = receiver.requests
    assert test_delivery.body["type"] == "test"
    shot(page, "subscriptions-03-test-event")

    # The workers deliver a new event while the page is open: the log shows it by itself.
    store = Store()
    event = store.add("LotRegistered", lot_registered(organisation("gamma", 0xC3), 7))
    streams_deliver_due()
    assert [p.get("sequence") for d in receiver.accepted for p in d.payloads] == [
        None,  # the test event
        event.pk,
    ]
    page.wait_for_selector(f"#log-rows tr:first-child >> text=events {event.pk}")
    newest = page.locator("#log-rows tr").first
    assert newest.locator(".badge").inner_text() == "delivered"
    assert "200 in" in newest.inner_text()
    page.wait_for_selector("#position >> text=Up to date")
    assert receiver.unverified == 0
    shot(page, "subscriptions-04-delivered")
