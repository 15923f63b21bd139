"""A real browser for the portal tests: Playwright driving Debian's Chromium, headless.

`page` is a desktop window (1280 x 900), `phone` a phone's (390 x 844, touch, mobile user agent
behaviour); `shot` keeps a full-page screenshot in test-artifacts/browser/ for people to look
at after a run. Each test gets its own browser: Playwright's sync API keeps an event loop
marked running in this thread while it lives, which later asyncio tests must not inherit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.network import PASSWORD, Network

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
#: Longest a browser step waits for the page (milliseconds).
STEP_TIMEOUT_MS = 15_000


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make services` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes between browser steps are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def new_page(browser: Any, device: dict[str, Any]) -> Any:
    """A page in a fresh context (no cookies) shaped like `device`."""
    page = browser.new_context(**device).new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    return page


@pytest.fixture
def page(browser: Any) -> Any:
    return new_page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Any) -> Any:
    return new_page(browser, PHONE)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    shot(page, f"login-{username}")
    page.click("#submit")
    page.wait_for_url(f"{base}/")


def settle_and_reload(page: Any, network: Network) -> None:
    """What the workers do between two clicks: submit, track, index."""
    network.settle()
    page.reload()
