/* The inbox's ticket page: new transcript lines appear, a change of status or rating reloads. */
(function () {
  "use strict";
  // what the page was rendered with, from the transcript's data-* attributes
  const box = document.getElementById("transcript");
  if (!box) return;
  const id = box.dataset.ticket;
  let shown = Number(box.dataset.shown);
  const status = box.dataset.status;
  const rating = box.dataset.rating ? Number(box.dataset.rating) : null;
  async function refresh() {
    try {
      const r = await fetch("/inbox/tickets/" + id + ".json");
      if (!r.ok) return;
      const t = await r.json();
      for (const m of t.transcript.slice(shown)) {
        const div = document.createElement("div"); div.className = "msg " + m.sender;
        const meta = document.createElement("div"); meta.className = "meta";
        const who = document.createElement("strong"); who.textContent = m.sender;
        const at = document.createElement(m.at ? "time" : "span"); at.className = "at";
        if (m.at) { at.dateTime = m.at; at.textContent = m.at.slice(11, 19); } else { at.textContent = "time not recorded"; }
        meta.append(who, " ", at);
        const body = document.createElement("div");
        // m.html is the server's sanitised rendering of the bot's Markdown; anything else is text
        if (m.html) { body.className = "md"; body.innerHTML = m.html; } else { body.className = "text"; body.textContent = m.text; }
        div.append(meta, body);
        box.appendChild(div);
      }
      shown = t.transcript.length;
      if (t.status !== status || t.csat_score !== rating) { window.location.reload(); }
    } catch (e) { /* try again on the next tick */ }
  }
  setInterval(refresh, 3000);
})();
