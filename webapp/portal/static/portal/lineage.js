// The lot page's lineage graph: upstream sources to the left, what the lot went into to the
// right, one column per step. Data: the partner API's trace shape, embedded in the page.
// Click a lot to open it; hover to see its holders and certificates and light its edges.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 190, H = 54, GAP_X = 90, GAP_Y = 22, PAD = 20;
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

  function draw(host) {
    const up = read("lineage-up"), down = read("lineage-down");
    if (!up || !down) return;
    const start = up.lot_id;
    const nodes = new Map(); // lot id -> {lot, column}
    for (const n of up.nodes) nodes.set(n.lot_id, { lot: n, column: -n.depth });
    for (const n of down.nodes) if (!nodes.has(n.lot_id)) nodes.set(n.lot_id, { lot: n, column: n.depth });
    const edges = [...up.edges, ...down.edges];
    const columns = new Map();
    for (const [id, n] of nodes) {
      if (!columns.has(n.column)) columns.set(n.column, []);
      columns.get(n.column).push(id);
    }
    const order = [...columns.keys()].sort((a, b) => a - b);
    const tallest = Math.max(...[...columns.values()].map((c) => c.length));
    const width = PAD * 2 + order.length * W + (order.length - 1) * GAP_X;
    const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Lineage of lot ${start}: ${nodes.size} lots, ${edges.length} links` }, host);
    const pos = new Map();
    order.forEach((column, ci) => {
      const ids = columns.get(column).sort((a, b) => a - b);
      const offset = (tallest - ids.length) * (H + GAP_Y) / 2;
      ids.forEach((id, ri) => pos.set(id, { x: PAD + ci * (W + GAP_X), y: PAD + offset + ri * (H + GAP_Y) }));
    });
    const edgeLayer = el("g", { class: "edges" }, svg);
    const drawn = [];
    for (const e of edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      const path = el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
        class: `edge ${e.kind}` }, edgeLayer);
      const label = el("text", { x: mx, y: (y1 + y2) / 2 - 4, class: "edge-label" }, edgeLayer);
      label.textContent = e.kind === "bundle" ? `packed ${e.quantity}` : `${e.quantity} used`;
      drawn.push({ e, path, label });
    }
    const tip = document.createElement("div");
    tip.className = "lineage-tip";
    tip.hidden = true;
    host.appendChild(tip);
    for (const [id, n] of nodes) {
      const p = pos.get(id), lot = n.lot;
      const g = el("g", { class: `lot ${KIND_CLASS[lot.kind] || ""}${id === start ? " start" : ""}${lot.quarantined ? " quarantined" : ""}`,
        transform: `translate(${p.x},${p.y})`, tabindex: 0, "data-lot": id, role: "link" }, svg);
      el("rect", { width: W, height: H, rx: 6 }, g);
      const title = el("text", { x: 8, y: 19, class: "lot-title" }, g);
      title.textContent = `${id} · ${(lot.name || lot.kind).slice(0, 22)}`;
      const sub = el("text", { x: 8, y: 38, class: "lot-sub" }, g);
      const valid = lot.certificates.filter((c) => !c.revoked).length;
      sub.textContent = `${lot.quantity} ${lot.unit || ""} · ${lot.creator_name || lot.creator.slice(0, 10)}${valid ? " · ✓" + valid : ""}`;
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
  }

  document.addEventListener("DOMContentLoaded", () => {
    const host = document.getElementById("lineage-graph");
    if (host) draw(host);
  });
})();
