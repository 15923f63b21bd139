// The operation page follows its operation: status, what is waited for, and once final
// what came of it. The "goes on chain in a moment" notice is true only until then.
(function () {
  const box = document.getElementById("operation");
  const final = ["confirmed", "failed"];

  function dropNotice() {
    document.querySelectorAll("main > .flash.success").forEach(function (p) { p.remove(); });
  }

  function show(s) {
    const badge = document.getElementById("status");
    badge.textContent = s.status; badge.className = "badge " + s.status;
    const done = final.includes(s.status);
    document.getElementById("waiting").textContent = done ? "" : (s.waiting_reason || (s.status === "queued" ? "Waiting for the submitter to sign and send it." : ""));
    document.getElementById("tx").textContent = s.transaction_hash || "not sent yet";
    // A failed operation's reason is its outcome; any other keeps its note (records
    // discarded when a reverted transaction came back in a reorganisation).
    document.getElementById("error").textContent = s.status === "failed" ? "" : (s.error || "");
    const outcome = document.getElementById("outcome");
    const link = document.getElementById("result-link");
    if (s.status === "failed") {
      outcome.className = "error";
      outcome.textContent = "It did not happen: " + (s.outcome || s.error || "the chain refused it.");
      link.textContent = "";
    } else if (s.status === "confirmed") {
      outcome.className = "";
      outcome.textContent = s.outcome || "";
      link.textContent = "";
      if (s.outcome_url) {
        const a = document.createElement("a");
        a.href = s.outcome_url;
        a.textContent = s.outcome_link || "Open it";
        link.appendChild(a);
        const about = document.getElementById("lot-link");
        if (about) about.remove();  // the result links the lot already
      }
    }
    if (done) dropNotice();
  }

  async function poll() {
    let r;
    try {
      r = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}});
    } catch (e) {
      return setTimeout(poll, 3000);
    }
    if (!r.ok) return setTimeout(poll, 3000);
    const s = await r.json();
    show(s);
    if (!s.final) setTimeout(poll, 1000);
  }

  if (final.includes(document.getElementById("status").textContent)) dropNotice();
  else setTimeout(poll, 500);
})();
