// The import page follows its job: the row check, then the operations to confirmation.
// A change of phase reloads the page (the rows' table and the buttons come with it).
(function () {
  const box = document.getElementById("import-job");
  if (!box) return;
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value.toLocaleString(); };
  async function poll() {
    let s;
    try {
      const r = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}});
      if (!r.ok) return setTimeout(poll, 3000);
      s = await r.json();
    } catch (e) { return setTimeout(poll, 3000); }
    if (s.phase !== box.dataset.phase) { window.location.reload(); return; }
    const bar = document.getElementById("import-bar");
    if (s.phase === "validating") {
      set("import-checked", s.checked);
      if (bar) bar.value = s.checked;
    } else if (s.phase === "submitting") {
      set("import-queueing", s.operations);
      if (bar) bar.value = s.operations;
    } else {
      set("import-confirmed", s.confirmed); set("import-queued", s.queued);
      set("import-failed", s.failed); set("import-operations", s.operations);
      if (bar) { bar.max = Math.max(s.operations, 1); bar.value = s.confirmed + s.failed; }
    }
    if (!s.final && s.phase !== "validated") setTimeout(poll, 1000);
  }
  const phase = box.dataset.phase;
  if (!["done", "validated"].includes(phase)) setTimeout(poll, 500);
})();
