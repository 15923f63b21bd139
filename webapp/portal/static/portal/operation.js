(function () {
  const box = document.getElementById("operation");
  const final = ["confirmed", "failed"];
  async function poll() {
    const r = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}});
    if (!r.ok) return setTimeout(poll, 3000);
    const s = await r.json();
    const badge = document.getElementById("status");
    badge.textContent = s.status; badge.className = "badge " + s.status;
    document.getElementById("waiting").textContent = s.status === "confirmed" || s.status === "failed" ? "" : (s.waiting_reason || (s.status === "queued" ? "Waiting for the submitter to sign and send it." : ""));
    document.getElementById("error").textContent = s.error || "";
    document.getElementById("tx").textContent = s.transaction_hash || "not sent yet";
    if (!s.final) setTimeout(poll, 1000);
  }
  if (!final.includes(document.getElementById("status").textContent)) setTimeout(poll, 500);
})();
