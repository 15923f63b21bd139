"""GraphiQL in development: a signed-in person opens /graphql in Chromium, GraphiQL loads
from the site's own files (under the Content-Security-Policy) and runs a query on the hub
with the session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.webapp.browser import STEP_TIMEOUT_MS, browser, log_in, page, shot
from tests.webapp.test_provenance_flow import product

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "page", "product"]  # fixtures used below


def test_graphiql_runs_a_query_with_the_session(
    page: Any, live_server: Any, product: dict[str, Any], settings: Any
) -> None:
    settings.DEBUG = True
    base, ore = live_server.url, product["a"]
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    log_in(page, base, "mine")
    page.goto(f"{base}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for(timeout=STEP_TIMEOUT_MS)
    set_query = "q => document.querySelector(`.graphiql-query-editor .CodeMirror`)"
    page.evaluate(f"{set_query}.CodeMirror.setValue(q)", f"{{ lot(id: {ore}) {{ id kind }} }}")
    page.locator(".graphiql-execute-button").click()
    result = page.locator(".graphiql-response")
    result.get_by_text('"kind": "raw_material"').wait_for(timeout=STEP_TIMEOUT_MS)
    assert f'"id": "{ore}"' in (result.text_content() or "")
    assert blocked == []
    shot(page, "90-graphiql")
