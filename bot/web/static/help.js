/*
 * The help centre's search box: suggestions as the visitor types (the ARIA 1.2 combobox
 * pattern: arrow keys move through the list, Enter opens the chosen article, Escape closes it),
 * and the "Ask in the chat" button of a search with no good result. Without this file the box
 * is a plain GET form. Text is put on the page with textContent only, never as markup.
 */
(function () {
  "use strict";
  var DELAY = 200, MIN_CHARS = 2, LIMIT = 6;
  var form = document.querySelector("form.search");
  var input = document.getElementById("help-q");
  var list = document.getElementById("help-suggestions");
  var status = document.getElementById("help-suggest-status");
  if (!form || !input || !list) return;

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Suggested articles");

  var timer = null, active = -1, items = [], asked = 0, lastQuery = "";

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function select(index) {
    var options = list.querySelectorAll("[role=option]");
    if (!options.length) return;
    active = (index + options.length) % options.length;
    options.forEach(function (o, i) { o.setAttribute("aria-selected", String(i === active)); });
    input.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  }

  function go(index) {
    var item = items[index];
    if (item) location.href = item.href;
  }

  function render(query, results) {
    list.textContent = "";
    items = results.map(function (r) { return { href: r.path, title: r.title, section: r.section }; });
    items.push({ href: "/help/search?q=" + encodeURIComponent(query), all: true });
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "help-suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      if (item.all) {
        li.className = "all";
        li.textContent = "See all results for “" + query + "”";
      } else {
        var title = document.createElement("span");
        title.className = "title";
        title.textContent = item.title;
        li.appendChild(title);
        if (item.section) {
          var section = document.createElement("span");
          section.className = "section";
          section.textContent = item.section;
          li.appendChild(section);
        }
      }
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });
      li.addEventListener("click", function () { go(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
    var n = results.length;
    status.textContent = n ? n + (n === 1 ? " suggestion" : " suggestions") + ". Use the arrow keys to choose." : "No suggestions.";
  }

  function suggest() {
    var query = input.value.trim();
    if (query.length < MIN_CHARS) { close(); lastQuery = ""; return; }
    if (query === lastQuery && !list.hidden) return;
    lastQuery = query;
    var mine = ++asked;
    fetch(form.dataset.suggest + "?k=" + LIMIT + "&q=" + encodeURIComponent(query), { headers: { Accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        if (!data || mine !== asked || input.value.trim() !== query) return;  // a newer one is on its way
        render(query, data.results || []);
      })
      .catch(function () { /* offline for a moment: the form still works */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggest, DELAY);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      if (list.hidden) { lastQuery = ""; suggest(); } else select(active + 1);
    } else if (e.key === "ArrowUp") {
      if (!list.hidden) { e.preventDefault(); select(active - 1); }
    } else if (e.key === "Enter") {
      if (!list.hidden && active >= 0) { e.preventDefault(); go(active); }
    } else if (e.key === "Escape") {
      if (!list.hidden) { e.preventDefault(); close(); }
    }
  });
  input.addEventListener("blur", close);

  // A search that found nothing good offers the chat with the search typed in (widget.js
  // listens for this event); without the widget the "contact us" link stays.
  document.querySelectorAll("button.ask[data-ask]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.dispatchEvent(new CustomEvent("tier0chat:ask", { detail: { text: button.dataset.ask } }));
    });
  });

  // A guide's end that sends to a person: the chat asks for one at once (widget.js), the
  // message saying which guide and the answers the visitor chose, for the agent's ticket.
  document.querySelectorAll("section.guide").forEach(function (guide) {
    var path = [];
    guide.addEventListener("click", function (e) {
      var link = e.target.closest("a");
      if (!link || !guide.contains(link)) return;
      if (link.closest(".restart")) path = [];
      else if (link.closest(".choices")) path.push(link.textContent.trim());
    });
    guide.querySelectorAll("button.ask-person[data-guide]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var title = document.querySelector("main h1");
        var named = title ? title.textContent.trim() : button.dataset.guide;
        var text = "I followed the troubleshooting steps in \u201c" + named + "\u201d" +
          (path.length ? " (" + path.join(" \u2192 ") + ")" : "") + " and they say to ask a person.";
        window.dispatchEvent(new CustomEvent("tier0chat:human", { detail: { text: text } }));
      });
    });
  });
})();
