"""The passport is what a QR code on a label opens, on a phone, without an account: it must
read at 390 px wide (no sideways scrolling, no text under 14 px) in a real browser
(Playwright + Debian's Chromium). Screenshots are kept in test-artifacts/browser/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.webapp.browser import DESKTOP, browser, log_in, new_page, phone, shot
from tests.webapp.test_provenance_flow import product

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

__all__ = ["browser", "phone", "product"]  # fixtures used below

#: Every element that shows text of its own, with its computed font size in px.
TEXT_SIZES = """() => {
  const sizes = [];
  for (const element of document.querySelectorAll("body *")) {
    const own = [...element.childNodes].some(
      (n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== ""
    );
    const box = element.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0) continue;
    sizes.push([element.tagName.toLowerCase() + (element.id ? "#" + element.id : ""),
                parseFloat(getComputedStyle(element).fontSize),
                element.textContent.trim().slice(0, 40)]);
  }
  return sizes;
}"""
#: Elements whose right edge lies past the screen's.
TOO_WIDE = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))"""


def _fits_a_phone(phone: Any) -> None:
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    inner = phone.evaluate("() => window.innerWidth")
    assert inner == 390
    assert width <= inner, phone.evaluate(TOO_WIDE)
    small = [(what, size, text) for what, size, text in phone.evaluate(TEXT_SIZES) if size < 14]
    assert small == [], small


def test_the_passport_reads_on_a_phone_without_an_account(
    phone: Any, live_server: Any, product: dict[str, Any]
) -> None:
    base, p = live_server.url, product["p"]
    phone.goto(f"{base}/passport/{p}")
    assert phone.url == f"{base}/passport/{p}"  # no login on the way
    assert (phone.locator("h1").text_content() or "").strip() == f"Pallet · lot {p}"
    assert phone.locator("#custody-timeline li").count() == 7
    assert phone.locator("#restricted").count() == 0
    _fits_a_phone(phone)
    # The timeline and the proofs are on screen, not cut off at the right.
    for selector in ("#custody-timeline", "#built-on", "#footprint", "a.proof >> nth=0"):
        box = phone.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0, selector
        assert box["x"] + box["width"] <= 390, selector
    shot(phone, "20-passport-phone")

    phone.goto(f"{base}/passport/999999")
    assert "No product passport with id 999999" in (phone.locator("h1").text_content() or "")
    _fits_a_phone(phone)
    shot(phone, "21-passport-unknown-phone")

    # A participant sees supplier addresses: long, and still within the screen.
    log_in(phone, base, "retailer")
    phone.goto(f"{base}/passport/{p}")
    assert phone.locator("#restricted code").count() >= 2
    _fits_a_phone(phone)
    shot(phone, "22-passport-participant-phone")

    desktop = new_page(phone.context.browser, DESKTOP)
    try:
        desktop.goto(f"{base}/passport/{p}")
        assert desktop.locator("#custody-timeline li").count() == 7
        shot(desktop, "23-passport-desktop")
    finally:
        desktop.context.close()
