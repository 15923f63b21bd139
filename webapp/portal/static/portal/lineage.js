// The lot page's lineage graph: sources to the left, what the lot went into to the right.
// Data: the partner API's trace shape, embedded in the page (the portal adds `label` to each
// edge and `quantity_text` to each lot, written by webapp.formatting, e.g. "400 kg used").
//
// Layout, chosen so a trace of a few hundred lots stays readable:
// - columns by longest path from a source, so every edge runs left to right across at least
//   one gap, and the start lot's ancestors are left of it and its products right of it;
// - an edge that skips columns gets a slot of its own in each column it crosses, so it runs
//   between boxes, never behind one;
// - rows ordered by the barycentre of each lot's neighbours (fewer crossings);
// - lot boxes of one size; a title that does not fit is cut at a word boundary with "…"
//   (inside a word only when a boundary would waste half the box), and the full text is the
//   box's tooltip (<title>);
// - each edge's label sits in the gap just left of the edge's target, the gap as wide as its
//   widest label, labels stacked top to bottom in a gap so they never touch each other or a
//   box; the edge is drawn through its label, so a pushed-down label stays on its edge;
// - the SVG keeps its own size inside a scrolling box (no clipping), with zoom buttons.
// Click a lot to open it; hover to see its holders and certificates and light its edges.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 210, H = 56, ROW_GAP = 18, PAD = 16, TEXT_X = 9, SLOT = 6;
  const LABEL_H = 20, LABEL_PAD = 6, LABEL_GAP = 4, GAP_MARGIN = 14, MIN_GAP = 64;
  const KIND_CLASS = { "raw material": "raw", component: "component", product: "product", bundle: "bundle" };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function read(id) {
    const script = document.getElementById(id);
    return script ? JSON.parse(script.textContent) : null;
  }

  // Puts `full` into the text node, cut at a word boundary with an ellipsis when it is wider
  // than `max` pixels (inside a long word when the last boundary keeps under half the room).
  function fit(text, full, max) {
    text.textContent = full;
    if (text.getComputedTextLength() <= max) return;
    const words = full.split(/\s+/).filter(Boolean);
    while (words.length > 1) {
      words.pop();
      text.textContent = words.join(" ").replace(/[\s·,;:–-]+$/, "") + "…";
      // A word boundary that keeps less than half the room is worse than cutting a long word.
      if (text.getComputedTextLength() <= max) {
        if (text.getComputedTextLength() >= max / 2) return;
        break;
      }
    }
    let kept = full;
    do {
      kept = kept.slice(0, -1).trimEnd();
      text.textContent = kept + "…";
    } while (kept.length > 1 && text.getComputedTextLength() > max);
  }

  // Column of each lot: the longest path from a source (cycles, which a chain cannot make,
  // are cut rather than followed).
  function columnsOf(ids, parents) {
    const column = new Map(), open = new Set();
    function visit(id) {
      if (column.has(id)) return column.get(id);
      if (open.has(id)) return 0;
      open.add(id);
      let c = 0;
      for (const p of parents.get(id)) c = Math.max(c, visit(p) + 1);
      open.delete(id);
      column.set(id, c);
      return c;
    }
    ids.forEach(visit);
    return column;
  }

  // Orders each column by the mean row of each lot's neighbours, sweeping right then left.
  function order(columns, parents, children) {
    const row = new Map();
    const place = () => columns.forEach((ids) => ids.forEach((id, i) => row.set(id, i)));
    const mean = (id, around) => {
      const rows = around.get(id).filter((n) => row.has(n)).map((n) => row.get(n));
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : row.get(id);
    };
    place();
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let c = 1; c < columns.length; c++) {
        const m = new Map(columns[c].map((id) => [id, mean(id, parents)]));
        columns[c].sort((a, b) => m.get(a) - m.get(b) || a - b);
        place();
      }
      for (let c = columns.length - 2; c >= 0; c--) {
        const m = new Map(columns[c].map((id) => [id, mean(id, children)]));
        columns[c].sort((a, b) => m.get(a) - m.get(b) || a - b);
        place();
      }
    }
  }

  // Rows: each lot as near the mean height of its neighbours as the lots above it allow,
  // so a column of a few lots sits beside what it connects to, not in the middle of nowhere.
  // `tall(id)` is a row's height: a lot's box, or the slot of an edge passing through.
  function place(columns, xs, parents, children, tall) {
    const pos = new Map();
    columns.forEach((ids, c) => {
      let y = PAD;
      for (const id of ids) {
        pos.set(id, { x: xs[c], y });
        y += tall(id) + ROW_GAP;
      }
    });
    const centre = (id) => pos.get(id).y + tall(id) / 2;
    const settle = (ids, around) => {
      let next = PAD;
      for (const id of ids) {
        const cs = around.get(id).map(centre);
        const want = cs.length ? cs.reduce((a, b) => a + b, 0) / cs.length - tall(id) / 2 : next;
        pos.get(id).y = Math.max(want, next);
        next = pos.get(id).y + tall(id) + ROW_GAP;
      }
    };
    const both = new Map([...parents].map(([id, ps]) => [id, [...ps, ...children.get(id)]]));
    const tallest = columns.reduce((t, ids, c) => (ids.length > columns[t].length ? c : t), 0);
    for (let c = tallest + 1; c < columns.length; c++) settle(columns[c], parents);
    for (let c = tallest - 1; c >= 0; c--) settle(columns[c], children);
    for (let c = 0; c < columns.length; c++) if (c !== tallest) settle(columns[c], both);
    const top = Math.min(...[...pos.values()].map((p) => p.y));
    for (const p of pos.values()) p.y += PAD - top;
    return pos;
  }

  function edgeLabel(e) {
    if (e.label) return e.label;
    return e.kind === "bundle" ? `packed ${e.quantity}` : `${e.quantity} used`;
  }

  function draw(host) {
    const up = read("lineage-up"), down = read("lineage-down");
    if (!up || !down) return;
    const start = up.lot_id;
    const lots = new Map();
    for (const n of [...up.nodes, ...down.nodes]) if (!lots.has(n.lot_id)) lots.set(n.lot_id, n);
    const seen = new Set(), edges = [];
    for (const e of [...up.edges, ...down.edges]) {
      const key = `${e.from}>${e.to}>${e.kind}>${e.transformation_id}`;
      if (seen.has(key) || !lots.has(e.from) || !lots.has(e.to) || e.from === e.to) continue;
      seen.add(key);
      edges.push(e);
    }
    const ids = [...lots.keys()].sort((a, b) => a - b);
    const parents = new Map(ids.map((id) => [id, []]));
    for (const e of edges) parents.get(e.to).push(e.from);
    const column = columnsOf(ids, parents);
    // An edge that skips columns runs through a slot of its own (a row with a negative id)
    // in each column it crosses, so it passes between boxes, never behind one.
    const via = new Map(), above = new Map(), below = new Map();
    for (const id of ids) { above.set(id, []); below.set(id, []); }
    let slots = 0;
    for (const e of edges) {
      let previous = e.from;
      const chain = [];
      for (let c = column.get(e.from) + 1; c < column.get(e.to); c++) {
        const slot = --slots;
        column.set(slot, c);
        above.set(slot, [previous]);
        below.set(slot, []);
        below.get(previous).push(slot);
        chain.push(slot);
        previous = slot;
      }
      above.get(e.to).push(previous);
      below.get(previous).push(e.to);
      via.set(e, chain);
    }
    const tall = (id) => (lots.has(id) ? H : SLOT);
    const columns = [];
    for (const [id, c] of column) (columns[c] ||= []).push(id);
    for (let c = 0; c < columns.length; c++) columns[c] ||= [];
    order(columns, above, below);

    const svg = el("svg", { role: "img", class: "lineage-svg",
      "aria-label": `Lineage of lot ${start}: ${lots.size} lots, ${edges.length} links` }, host);
    const edgeLayer = el("g", { class: "edges" }, svg);
    const labelLayer = el("g", { class: "edge-labels" }, svg);
    const lotLayer = el("g", { class: "lots" }, svg);

    // Labels first: their widths set the gaps' widths.
    const drawn = edges.map((e) => {
      const box = el("g", { class: "edge-label-box" }, labelLayer);
      const rect = el("rect", { height: LABEL_H, rx: 4 }, box);
      const text = el("text", { class: "edge-label", y: LABEL_H / 2 }, box);
      text.textContent = edgeLabel(e);
      const from = lots.get(e.from), to = lots.get(e.to);
      el("title", {}, box).textContent =
        `Lot ${e.from} (${from.name || from.kind}) → lot ${e.to} (${to.name || to.kind}): ${text.textContent}`;
      const width = Math.ceil(text.getComputedTextLength()) + 2 * LABEL_PAD;
      rect.setAttribute("width", width);
      text.setAttribute("x", width / 2);
      return { e, box, width, gap: column.get(e.to) - 1 };
    });
    const gaps = columns.slice(1).map(() => MIN_GAP);
    for (const d of drawn) gaps[d.gap] = Math.max(gaps[d.gap], d.width + 2 * GAP_MARGIN);
    const xs = [];
    columns.forEach((_, c) => { xs[c] = c === 0 ? PAD : xs[c - 1] + W + gaps[c - 1]; });

    const pos = place(columns, xs, above, below, tall);
    const centre = (id) => pos.get(id).y + tall(id) / 2;

    // In each gap, labels in the order of where their edge would cross it, each below the last.
    let bottom = Math.max(...[...pos.keys()].map((id) => pos.get(id).y + tall(id)));
    const byGap = new Map();
    for (const d of drawn) {
      const last = via.get(d.e).at(-1) ?? d.e.from;
      d.want = (centre(last) + centre(d.e.to)) / 2 - LABEL_H / 2;
      if (!byGap.has(d.gap)) byGap.set(d.gap, []);
      byGap.get(d.gap).push(d);
    }
    for (const [gap, list] of byGap) {
      list.sort((p, q) => p.want - q.want || p.e.from - q.e.from);
      let next = PAD;
      for (const d of list) {
        d.y = Math.max(d.want, next);
        next = d.y + LABEL_H + LABEL_GAP;
        d.x = xs[gap] + W + (gaps[gap] - d.width) / 2;
        d.box.setAttribute("transform", `translate(${d.x},${d.y})`);
        bottom = Math.max(bottom, d.y + LABEL_H);
      }
    }
    for (const d of drawn) {
      // Source, through its slots, through its label, into the target.
      let x = pos.get(d.e.from).x + W, y = centre(d.e.from);
      let path = `M${x},${y}`;
      const curve = (tx, ty) => {
        const m = (x + tx) / 2;
        path += ` C${m},${y} ${m},${ty} ${tx},${ty}`;
        x = tx;
        y = ty;
      };
      const across = (tx) => {
        path += ` L${tx},${y}`;
        x = tx;
      };
      for (const slot of via.get(d.e)) {
        curve(pos.get(slot).x, centre(slot));
        across(pos.get(slot).x + W);
      }
      curve(d.x, d.y + LABEL_H / 2);
      across(d.x + d.width);
      curve(pos.get(d.e.to).x, centre(d.e.to));
      d.path = el("path", { class: `edge ${d.e.kind}`, d: path }, edgeLayer);
    }
    const width = xs[columns.length - 1] + W + PAD, height = bottom + PAD;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.dataset.width = width;
    svg.dataset.height = height;
    zoom(svg, 1);

    const tip = document.createElement("div");
    tip.className = "lineage-tip";
    tip.hidden = true;
    host.appendChild(tip);
    for (const [id, lot] of lots) {
      const p = pos.get(id);
      const g = el("g", { class: `lot ${KIND_CLASS[lot.kind] || ""}${id === start ? " start" : ""}${lot.quarantined ? " quarantined" : ""}`,
        transform: `translate(${p.x},${p.y})`, tabindex: 0, "data-lot": id, role: "link" }, lotLayer);
      const valid = lot.certificates.filter((c) => !c.revoked).length;
      const name = lot.name || lot.kind;
      g.dataset.name = name;
      const amount = lot.quantity_text || `${lot.quantity} ${lot.unit || ""}`.trim();
      const maker = lot.creator_name || lot.creator.slice(0, 10);
      const certified = valid ? ` · ✓ ${valid} certificate${valid > 1 ? "s" : ""}` : "";
      el("title", {}, g).textContent = `Lot ${id}: ${name} (${lot.kind}) — ${amount}, made by ${maker}${certified}`;
      el("rect", { width: W, height: H, rx: 6 }, g);
      const title = el("text", { x: TEXT_X, y: 22, class: "lot-title" }, g);
      fit(title, `${id} · ${name}`, W - 2 * TEXT_X);
      const sub = el("text", { x: TEXT_X, y: 43, class: "lot-sub" }, g);
      fit(sub, `${amount} · ${maker}${valid ? " · ✓" + valid : ""}`, W - 2 * TEXT_X);
      const open = () => { window.location.href = `/lots/${id}`; };
      g.addEventListener("click", open);
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
      g.addEventListener("mouseenter", () => {
        for (const d of drawn) d.path.classList.toggle("lit", d.e.from === id || d.e.to === id);
        const shown = lot.holders.map((h) => `${h.name || h.address.slice(0, 10)}: ${h.quantity}`);
        if (lot.holders_scope === "own") shown.push("others not shown to you");
        const holders = shown.join(", ") || "nobody";
        const certs = lot.certificates.map((c) => `${c.certificate_type}${c.revoked ? " (revoked)" : ""}`).join(", ") || "none";
        tip.textContent = `Lot ${id} (${lot.kind}) — held by ${holders}; certificates: ${certs}`;
        tip.hidden = false;
      });
      g.addEventListener("mouseleave", () => {
        for (const d of drawn) d.path.classList.remove("lit");
        tip.hidden = true;
      });
    }
    controls(host, svg);
    // Open on the lot this page is about.
    const here = pos.get(start);
    host.scrollLeft = here.x + W / 2 - host.clientWidth / 2;
    host.scrollTop = here.y + H / 2 - host.clientHeight / 2;
  }

  function zoom(svg, scale) {
    svg.dataset.scale = scale;
    svg.setAttribute("width", Math.round(svg.dataset.width * scale));
    svg.setAttribute("height", Math.round(svg.dataset.height * scale));
  }

  function controls(host, svg) {
    const bar = document.createElement("div");
    bar.className = "lineage-zoom";
    const button = (text, label, act) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = text;
      b.title = label;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", act);
      bar.appendChild(b);
    };
    const by = (f) => () => zoom(svg, Math.min(2, Math.max(0.2, Number(svg.dataset.scale) * f)));
    button("−", "Zoom out", by(1 / 1.25));
    button("+", "Zoom in", by(1.25));
    button("Fit", "Fit the width", () => zoom(svg, Math.min(1, host.clientWidth / svg.dataset.width)));
    button("100%", "Actual size", () => zoom(svg, 1));
    host.parentNode.insertBefore(bar, host);
  }

  function ready() {
    const host = document.getElementById("lineage-graph");
    if (host) draw(host);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
