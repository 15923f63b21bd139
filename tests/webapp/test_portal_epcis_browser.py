"""The portal's EPCIS page in a real browser: the nav's EPCIS link, a document uploaded,
its capture job page showing success, and the page following the operations the events
became to confirmation by itself (polling, no reload by hand). Screenshots go to
test-artifacts/browser/."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, shot
from tests.webapp.network import Network
from tests.webapp.test_epcis_capture import _gs1_identities, commissioning, document, shipping
from webapp.epcis.models import EpcisEvent

__all__ = ["browser", "page"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def test_a_document_uploaded_in_the_portal_is_followed_to_confirmation(
    page: Any, live_server: Any, network: Network
) -> None:
    _gs1_identities(network)
    base = live_server.url
    log_in(page, base, "mine")
    page.click("nav >> text=EPCIS")
    page.wait_for_url(f"{base}/traceability/epcis")
    shot(page, "epcis-01-events")
    page.click("#epcis-upload")
    content = json.dumps(document(commissioning(), shipping())).encode()
    page.set_input_files(
        "#id_file",
        files=[{"name": "despatch.json", "mimeType": "application/json", "buffer": content}],
    )
    shot(page, "epcis-02-upload")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/traceability/epcis/jobs/[0-9a-f-]+$"))
    assert page.locator("#job-status").inner_text() == "success"
    assert "2 of 2 events captured" in page.locator("#job-summary").inner_text()
    badges = page.locator("#epcis-job-events [data-operation]")
    assert badges.count() == 2
    shot(page, "epcis-03-captured")
    assert EpcisEvent.objects.filter(operation__isnull=False).count() == 2

    network.settle()  # the workers' part; the page notices by itself
    for index in range(2):
        page.wait_for_function(
            "i => document.querySelectorAll('#epcis-job-events [data-operation]')[i]"
            ".textContent === 'confirmed'",
            arg=index,
        )
    shot(page, "epcis-04-confirmed")
    page.locator("#epcis-job-events a.job-operation").first.click()
    page.wait_for_url(re.compile(r".*/operations/[0-9a-f-]+$"))
    page.wait_for_selector("#status:text('confirmed')")
    shot(page, "epcis-05-operation")
