"""Provenance pages in a real browser (Playwright + Debian's Chromium): the lot page's
lineage graph, the passport opened from the lot page's QR link without logging in, the
verify page checking a downloaded evidence pack, and the sustainability dashboard.
Screenshots are kept in test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.webapp.browser import browser, log_in, page, phone, shot
from tests.webapp.lineage_layout import layout_problems
from tests.webapp.test_provenance_flow import product

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

__all__ = ["browser", "page", "phone", "product"]  # fixtures used below


def test_a_pallet_traces_back_to_its_ore_on_screen_and_its_passport_is_public(
    page: Any, phone: Any, live_server: Any, product: dict[str, Any], tmp_path: Path
) -> None:
    base = live_server.url
    a, b, c, p = product["a"], product["b"], product["c"], product["p"]
    log_in(page, base, "distributor")
    page.goto(f"{base}/lots/{p}")
    graph = page.locator("#lineage-graph svg")
    graph.wait_for()
    drawn = sorted(int(x) for x in page.locator("#lineage-graph g.lot").evaluate_all(
        "nodes => nodes.map(n => n.dataset.lot)"
    ))  # fmt: skip
    assert drawn == sorted([a, b, c, p])
    assert page.locator("#lineage-graph path.edge").count() == 3
    # Boxes and edge labels apart, text inside its box, every lot in reach; quantities are
    # written by the formatting layer.
    found = layout_problems(page)
    assert found["problems"] == []
    assert (found["lots"], found["labels"]) == (4, 3)
    labels = page.locator("#lineage-graph .edge-label").all_text_contents()
    assert sorted(labels) == ["400 g used", "800 g used", "packed 600 g"]
    page.hover(f'#lineage-graph g.lot[data-lot="{p}"]')
    assert "EuroLogistics" in (page.locator(".lineage-tip").text_content() or "")
    # The distributor never held the ore: who holds it now is not shown to it.
    page.hover(f'#lineage-graph g.lot[data-lot="{a}"]')
    tip = page.locator(".lineage-tip").text_content() or ""
    assert "Nordic Refinery" not in tip
    assert "others not shown to you" in tip
    shot(page, "10-lot-lineage-graph")
    page.click(f'#lineage-graph g.lot[data-lot="{a}"]')
    page.wait_for_url(f"{base}/lots/{a}")
    assert page.locator("h1").text_content().startswith(f"Lot {a}")  # type: ignore[union-attr]

    # On a phone the graph scrolls inside its box; the box stays within the page's width.
    log_in(phone, base, "distributor")
    phone.goto(f"{base}/lots/{p}")
    phone.locator("#lineage-graph svg").wait_for()
    right, viewport = phone.locator("#lineage-graph").evaluate(
        "h => [h.getBoundingClientRect().right, window.innerWidth]"
    )
    assert right <= viewport
    assert layout_problems(phone)["problems"] == []
    shot(phone, "10-lot-lineage-graph-phone")

    page.goto(f"{base}/lots/{p}")
    passport_url = page.locator("#passport-url").get_attribute("href")
    assert passport_url == f"{base}/passport/{p}"
    assert page.locator(".qr svg").count() == 1

    # Someone who scans the QR code has no account: a fresh browser context, no cookies.
    stranger = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        anonymous = stranger.new_page()
        anonymous.goto(passport_url)
        assert anonymous.url == passport_url  # no redirect to a login page
        assert anonymous.locator("#footprint").text_content().strip().startswith("4 kg CO2e")  # type: ignore[union-attr]
        assert "Katanga Cobalt Mine" in (anonymous.locator("#origin").text_content() or "")
        assert anonymous.locator("#restricted").count() == 0
        shot(anonymous, "11-passport-public")

        with anonymous.expect_download() as download:
            anonymous.click("text=Download the evidence pack")
        pack = tmp_path / "evidence.json"
        download.value.save_as(pack)
        anonymous.goto(f"{base}/verify")
        anonymous.set_input_files("#proof", str(pack))
        anonymous.click("#submit")
        anonymous.locator("#result").wait_for()
        assert anonymous.locator(".verdict").text_content() == "valid"
        shot(anonymous, "12-verify-evidence-pack")
    finally:
        stranger.close()


#: Runs in the page: what is wrong with the charts' text (size, clipping, overlaps).
CHART_PROBLEMS = """
() => {
  const problems = [];
  const box = (el) => el.getBoundingClientRect();
  const touch = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
    && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  for (const svg of document.querySelectorAll("svg.chart")) {
    const frame = box(svg);
    if (Math.abs(frame.width - Number(svg.getAttribute("width"))) > 1)
      problems.push(`${svg.getAttribute("aria-label")} is scaled to ${frame.width}px`);
    const texts = [...svg.querySelectorAll("text")];
    for (const t of texts) {
      const b = box(t), size = parseFloat(getComputedStyle(t).fontSize);
      if (size < 12) problems.push(`"${t.textContent}" is ${size}px`);
      if (b.left < frame.left - 0.5 || b.right > frame.right + 0.5 || b.top < frame.top - 0.5
          || b.bottom > frame.bottom + 0.5) problems.push(`"${t.textContent}" is clipped`);
    }
    const shapes = [...texts, ...svg.querySelectorAll("rect.bar:not(.swatch)")];
    for (let i = 0; i < shapes.length; i++)
      for (let j = i + 1; j < shapes.length; j++)
        if (touch(box(shapes[i]), box(shapes[j])))
          problems.push(`"${shapes[i].textContent}" overlaps "${shapes[j].textContent}"`);
  }
  return problems;
}
"""


def test_the_sustainability_dashboard_draws_the_roll_up(
    page: Any, phone: Any, live_server: Any, product: dict[str, Any]
) -> None:
    base = live_server.url
    log_in(page, base, "refinery")
    page.click("text=Sustainability")
    page.wait_for_url(f"{base}/sustainability")
    lines = page.locator("#table-product_lines")
    assert lines.locator("svg.chart rect.bar:not(.swatch)").count() >= 2
    assert "6.667 g CO2e per g" in (lines.locator("table").text_content() or "")
    assert page.locator("#table-partners svg.chart").count() == 1
    # Readable at a glance: text of 12px or more, none clipped, none over another or a bar.
    assert page.evaluate(CHART_PROBLEMS) == []
    assert page.locator("svg.chart .legend").count() == 5
    assert page.locator("svg.chart .axis-title").count() >= 5
    # One month of data is one wide, tall bar, not a dot in an empty plot.
    month = page.locator("#table-monthly svg.chart rect.bar:not(.swatch)")
    assert month.count() == 1
    drawn = month.bounding_box()
    assert drawn is not None
    assert drawn["width"] >= 24
    assert drawn["height"] >= 100
    shot(page, "13-sustainability-dashboard")

    page.select_option("#line", "Cobalt")
    page.click("#apply")
    page.wait_for_url(f"{base}/sustainability?*line=Cobalt*")
    named = page.locator("#table-product_lines tr td:first-child").all_text_contents()
    assert named == ["Cobalt"]
    assert "line=Cobalt" in (page.locator("#table-monthly a[download]").get_attribute("href") or "")
    assert page.evaluate(CHART_PROBLEMS) == []
    shot(page, "13-sustainability-dashboard-cobalt")

    # On a phone the charts and tables scroll in their boxes; the page keeps its width.
    log_in(phone, base, "refinery")
    phone.goto(f"{base}/sustainability")
    for box in phone.locator(".chart-box, .table-scroll").all():
        right = box.evaluate("b => b.getBoundingClientRect().right")
        assert right <= phone.evaluate("window.innerWidth")
    shot(phone, "13-sustainability-dashboard-phone")
