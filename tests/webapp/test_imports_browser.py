"""The import pages in a real browser: a spreadsheet of lots uploaded, its bad row named,
the valid rows imported, and the page following them to confirmation by itself (polling,
no reload by hand). Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, shot
from tests.webapp.network import Network
from webapp.operations.models import Operation

__all__ = ["browser", "page"]  # fixtures used below

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

REGISTER = b"name,quantity,unit\nCobalt ore drum 1,1200,kg\nCobalt ore drum 2,ten,kg\nDrum 3,5,kg\n"


def test_an_import_is_checked_then_followed_to_confirmation_by_the_page_itself(
    page: Any, live_server: Any, network: Network
) -> None:
    base = live_server.url
    log_in(page, base, "mine")
    page.goto(f"{base}/imports")
    page.click("#new-import")
    page.select_option("#id_record_type", "lots")
    page.set_input_files(
        "#id_file", files=[{"name": "register.csv", "mimeType": "text/csv", "buffer": REGISTER}]
    )
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/imports/[0-9a-f-]+$"))
    errors = page.locator("#import-errors")
    assert "Row 3: quantity must be a whole number, got 'ten'" in errors.inner_text()
    shot(page, "imports-01-checked")
    assert not Operation.objects.filter(action="lot.register").exists()

    page.click("#import-valid")
    page.wait_for_selector("#import-phase:text('submitted')")
    assert page.locator("#import-queued").inner_text() == "2"
    shot(page, "imports-02-submitted")
    network.settle()  # the workers' part; the page notices by itself
    page.wait_for_selector("#import-phase:text('done')")
    assert page.locator("#import-confirmed").inner_text() == "2"
    assert page.locator("#import-bar").get_attribute("value") == "2"
    shot(page, "imports-03-done")
