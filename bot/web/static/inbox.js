/* The inbox's queue page: counts and rows refresh every few seconds with the page's filters. */
(function () {
  "use strict";
  const labels = ["#", "Waiting", "Reason", "Priority", "Customer", "Summary", "Agent"];
  function cell(row, text, html) {
    const td = row.insertCell(); td.dataset.label = labels[td.cellIndex] || "";
    if (html) td.appendChild(html); else td.textContent = text; return td;
  }
  async function refresh() {
    try {
      // the same filters as the page: status, reason and search
      const r = await fetch("/inbox.json" + window.location.search, {headers: {Accept: "application/json"}});
      if (!r.ok) return;
      const data = await r.json();
      for (const [s, n] of Object.entries(data.counts)) {
        const el = document.querySelector('[data-count="' + s + '"]'); if (el) el.textContent = n;
      }
      const body = document.getElementById("rows"); body.replaceChildren();
      if (!data.tickets.length) { cell(body.insertRow(), "No tickets here.").colSpan = 7; }
      for (const t of data.tickets) {
        const row = body.insertRow();
        const link = document.createElement("a"); link.href = "/inbox/tickets/" + t.id; link.textContent = t.id;
        cell(row, "", link); cell(row, t.waited);
        const badge = document.createElement("span"); badge.className = "badge " + t.reason; badge.textContent = t.reason.replaceAll("_", " ");
        const reasonCell = cell(row, "", badge); cell(row, String(t.priority));
        if (t.after_hours) {
          const late = document.createElement("span"); late.className = "badge after-hours"; late.textContent = "after hours";
          late.title = "Opened when nobody was on shift: the customer expects the answer by email";
          reasonCell.append(" ", late);
        }
        if (t.email) {
          const mail = document.createElement("span"); mail.className = "badge email-" + t.email; mail.textContent = "email " + t.email;
          reasonCell.append(" ", mail);
        }
        cell(row, (t.customer_email || "") + (t.order_number ? " · order " + t.order_number : ""));
        cell(row, t.summary);
        const agent = cell(row, t.claimed_by || "");
        if (t.csat_score) {
          const rated = document.createElement("span"); rated.className = "badge csat"; rated.textContent = "rated " + t.csat_score + "/5";
          agent.append(" ", rated);
        }
      }
    } catch (e) { /* server restarting: try again on the next tick */ }
  }
  setInterval(refresh, 4000);
})();
