"""What a drawn lineage graph must never do, read off the page in a real browser: boxes of
lots and labels of edges that touch, text spilling out of its box, a title cut mid-word
without an ellipsis, an edge running behind a box, a lot that no scrolling brings into
view."""

from __future__ import annotations

from typing import Any

#: Runs in the page on the graph's host (the scrolling box); returns every problem found.
_CHECK = """
host => {
  const problems = [];
  const box = (el) => { const b = el.getBoundingClientRect();
    return { l: b.left, t: b.top, r: b.right, b: b.bottom }; };
  const name = (el) => el.closest("g.lot") ? `lot ${el.closest("g.lot").dataset.lot}`
    : `label "${el.parentNode.querySelector("text").textContent}"`;
  const shapes = [...host.querySelectorAll("g.lot > rect, g.edge-label-box > rect")]
    .map((el) => ({ el, ...box(el) }));
  const touch = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
  const sorted = [...shapes].sort((a, b) => a.l - b.l);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].l < sorted[i].r; j++) {
      if (touch(sorted[i], sorted[j]))
        problems.push(`${name(sorted[i].el)} overlaps ${name(sorted[j].el)}`);
    }
  }
  for (const text of host.querySelectorAll("g.lot text, g.edge-label-box text")) {
    const t = box(text), r = box(text.parentNode.querySelector("rect"));
    if (t.l < r.l - 0.5 || t.r > r.r + 0.5 || t.t < r.t - 0.5 || t.b > r.b + 0.5)
      problems.push(`text "${text.textContent}" spills out of its box`);
  }
  for (const g of host.querySelectorAll("g.lot")) {
    const title = g.querySelector("text.lot-title").textContent;
    const full = `${g.dataset.lot} · ${g.dataset.name}`;
    if (title === full) continue;
    const kept = title.slice(0, -1);
    if (!title.endsWith("…") || !full.startsWith(kept))
      problems.push(`title "${title}" is not "${full}" cut with an ellipsis`);
    else if (/\\w$/.test(kept) && /^\\w/.test(full.slice(kept.length))) {
      // Cut inside a word: only fair for a word too long to fit on its own.
      const word = full.slice(0, kept.length).split(/\\s/).pop()
        + full.slice(kept.length).split(/\\s/)[0];
      if (word.length <= 16) problems.push(`title "${title}" is cut inside a word of "${full}"`);
    }
    if (!g.querySelector("title").textContent.includes(g.dataset.name))
      problems.push(`lot ${g.dataset.lot}'s tooltip lacks its full name`);
  }
  // No edge runs behind a box: points along each edge, in the graph's own units, stay out of
  // every box (2 px in from its border, where an edge starts and ends).
  const lots = [...host.querySelectorAll("g.lot")].map((g) => {
    const [x, y] = g.getAttribute("transform").match(/[\\d.]+/g).map(Number);
    const r = g.querySelector("rect");
    return { id: g.dataset.lot, l: x + 2, t: y + 2, r: x + r.width.baseVal.value - 2,
             b: y + r.height.baseVal.value - 2 };
  });
  for (const path of host.querySelectorAll("path.edge")) {
    const length = path.getTotalLength();
    for (let at = 0; at <= length; at += 5) {
      const p = path.getPointAtLength(at);
      const hit = lots.find((k) => p.x > k.l && p.x < k.r && p.y > k.t && p.y < k.b);
      if (hit) { problems.push(`an edge runs behind lot ${hit.id}`); break; }
    }
  }
  // Every lot is inside the scrolled area and comes into view when scrolled to.
  const svg = host.querySelector("svg");
  if (svg.getBoundingClientRect().width > host.scrollWidth + 1)
    problems.push("the graph is wider than its scrolling area");
  for (const g of host.querySelectorAll("g.lot")) {
    g.scrollIntoView({ block: "nearest", inline: "nearest" });
    const v = box(host), r = box(g.querySelector("rect"));
    if (r.l < v.l - 0.5 || r.r > v.r + 0.5 || r.t < v.t - 0.5 || r.b > v.b + 0.5)
      problems.push(`lot ${g.dataset.lot} cannot be scrolled into view`);
  }
  host.scrollTo(0, 0);
  return { problems, lots: host.querySelectorAll("g.lot").length,
           labels: host.querySelectorAll("g.edge-label-box").length };
}
"""


def layout_problems(page: Any, host: str = "#lineage-graph") -> dict[str, Any]:
    """{"problems": [...], "lots": n, "labels": m} for the graph drawn in `host`."""
    return page.locator(host).evaluate(_CHECK)  # type: ignore[no-any-return]
