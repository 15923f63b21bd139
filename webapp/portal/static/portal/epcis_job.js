// The EPCIS capture page follows its job: while the capture runs, then the operations its
// events became until each is confirmed or failed. A change of the job's status reloads the
// page (the summary, the errors and the events come with it).
(function () {
  const box = document.getElementById("epcis-job");
  if (!box) return;
  async function poll() {
    let s;
    try {
      const r = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}});
      if (!r.ok) return setTimeout(poll, 3000);
      s = await r.json();
    } catch (e) { return setTimeout(poll, 3000); }
    if (s.status !== box.dataset.status) { window.location.reload(); return; }
    s.operations.forEach(function (op) {
      const badge = document.querySelector('[data-operation="' + op.id + '"]');
      if (badge) { badge.textContent = op.status; badge.className = "badge " + op.status; }
    });
    if (!s.final) setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
