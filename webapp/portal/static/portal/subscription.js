// A subscription's page follows its deliveries: it polls the status endpoint and rewrites
// the state, the position and the delivery log in place. When the state or the number of
// dead letters changes, the page reloads (its buttons and the dead-letter list come with
// it), unless a form on it has been edited. Without JavaScript a reload shows the same.
(function () {
  const box = document.getElementById("subscription-live");
  if (!box) return;
  let edited = false;
  document.addEventListener("input", function () { edited = true; });

  function setText(id, text) {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  function time(when) {
    const t = document.createElement("time");
    t.dateTime = when.iso;
    t.title = when.iso;
    t.textContent = when.text;
    return t;
  }

  function cell(tr, content) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    tr.appendChild(td);
    return td;
  }

  function row(r) {
    const tr = document.createElement("tr");
    tr.dataset.attempt = r.id;
    cell(tr, time(r.at));
    cell(tr, r.what);
    const badge = document.createElement("span");
    badge.className = "badge attempt-" + r.status;
    badge.textContent = r.status_words;
    const status = cell(tr, badge);
    if (r.problem) {
      const p = document.createElement("span");
      p.className = "muted";
      p.textContent = r.problem;
      status.appendChild(document.createElement("br"));
      status.appendChild(p);
    }
    cell(tr, String(r.attempt));
    cell(tr, r.response_code ? r.response_code + " in " + r.duration_ms + " ms" : "none");
    cell(tr, r.next_retry ? time(r.next_retry) : "—");
    return tr;
  }

  function showLog(log) {
    const body = document.getElementById("log-rows");
    if (!body || log.length === 0) return;
    body.replaceChildren(...log.map(row));
  }

  async function poll() {
    let s;
    try {
      const r = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}});
      if (!r.ok) return setTimeout(poll, 5000);
      s = await r.json();
    } catch (e) { return setTimeout(poll, 5000); }
    const changed = s.state !== box.dataset.state || String(s.dead_letters) !== box.dataset.deadLetters;
    if (changed && !edited) { window.location.reload(); return; }
    const state = document.getElementById("state");
    state.textContent = s.state;
    state.className = "badge subscription-" + s.state;
    setText("state-words", s.state_words);
    setText("disabled-reason", s.disabled_reason);
    setText("position", s.position_words);
    setText("waiting", s.waiting);
    document.querySelectorAll(".checkpoint").forEach(function (el) {
      el.textContent = String(s.checkpoint);
    });
    showLog(s.log);
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
