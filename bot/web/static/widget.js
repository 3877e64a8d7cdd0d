/*
 * Tier-0 support chat widget. One self-contained file: no framework, no CDN, no cookies.
 *
 * Embed it on any page:
 *   <script src="https://support.example.com/widget.js" data-title="Help" data-color="#0b5cad" defer></script>
 * Options (data-* attributes on the tag, or window.Tier0Chat = {...} set before it loads):
 *   server   where the bot's web app answers (default: where this file came from)
 *   title    the panel's heading               color   the accent colour
 *   greeting the first thing the panel says    open    "true" to start open
 *
 * It runs under a strict Content-Security-Policy on the host page: no inline script, no inline
 * style (its own styles are a constructed stylesheet in its shadow root; see docs/widget.md).
 *
 * Every piece of text is put on the page with textContent / createTextNode, never innerHTML,
 * so nothing a customer, an agent or the bot writes can inject markup or script.
 */
(function () {
  "use strict";
  if (window.__tier0ChatLoaded) return;
  window.__tier0ChatLoaded = true;

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var extra = window.Tier0Chat || {};
  var cfg = {
    server: (extra.server || data.server || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, ""),
    title: extra.title || data.title || "Support",
    color: extra.color || data.color || "#0b5cad",
    greeting: extra.greeting || data.greeting || "Hi! I can answer questions about orders, delivery, returns, payments and your account, reset your password or track an order. How can I help?",
    open: String(extra.open || data.open || "") === "true",
  };
  var KEY = "tier0-chat:" + cfg.server;
  // the customer's time zone: the bot says when people are back in the customer's own time
  var ZONE = "";
  try { ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* old browser */ }
  var POLL_IDLE = 20000, POLL_HANDOFF = 2000, RETRY_MAX = 30000;

  // ---------- state ----------
  var store = {
    get: function (k) { try { return localStorage.getItem(KEY + ":" + k); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem(KEY + ":" + k, v); } catch (e) { /* private mode */ } },
    del: function (k) { try { localStorage.removeItem(KEY + ":" + k); } catch (e) { /* ignore */ } },
  };
  var conversationId = store.get("id");
  var cursor = 0, seen = {}, outbox = [], sending = false, retryDelay = 0, retryTimer = null;
  var started = false, pollTimer = null, fastUntil = 0, handoff = { state: "bot" }, lastBot = null;
  var SCORES = ["very bad", "bad", "okay", "good", "very good"];  // what 1 ... 5 mean
  var prompts = {};  // ticket id -> its "How did we do?" form, while unanswered

  var ICONS = {
    chat: "M4 4h16v11H8l-4 4z",
    up: "M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.5-1L13.1 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1.2-.7z",
    down: "M22 3h-4v12h4zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3a1.5 1.5 0 0 0 .5 1l1.1 1.1 6.5-6.6A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.8 1.2l-3 7.1-.2.7z",
  };
  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = svg.appendChild(document.createElementNS(ns, "path"));
    path.setAttribute("d", ICONS[name]);
    return svg;
  }

  function newId() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ---------- DOM helpers ----------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  // Links come from the bot's server (answers, citations, agents): a relative one means a page
  // there, such as the help centre, not a page of the site the widget is embedded in.
  function safeUrl(url) {
    var u;
    try { u = new URL(url, cfg.server + "/"); } catch (e) { return null; }
    return /^(https?:|mailto:)$/.test(u.protocol) ? u.href : null;
  }

  // Inline Markdown: **bold**, *em* / _em_, `code`, [text](url) and bare links, built as DOM nodes.
  var INLINE = /\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|`([^`]+)`|\*([^*\s][^*]*)\*|\b_([^_]+)_\b|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?])/g;
  function inline(text, parent) {
    var last = 0, m, re = new RegExp(INLINE.source, "g");  // its own: inline() recurses
    while ((m = re.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] !== undefined) inline(m[1], parent.appendChild(el("strong")));
      else if (m[2] !== undefined) link(m[2], m[3], parent);
      else if (m[4] !== undefined) parent.appendChild(el("code", { text: m[4] }));
      else if (m[5] !== undefined || m[6] !== undefined) inline(m[5] || m[6], parent.appendChild(el("em")));
      else link(m[7], m[7], parent);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function link(label, url, parent) {
    var href = safeUrl(url);
    if (!href) { parent.appendChild(document.createTextNode(label)); return; }
    inline(label, parent.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer" })));
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(function (c) { return c.trim(); });
  }

  // Block Markdown: paragraphs, "- " / "1. " lists, "|" tables, "#" headings (shown bold).
  function markdown(src) {
    var frag = document.createDocumentFragment();
    var list = null, para = null, table = null;
    String(src).replace(/\r/g, "").split("\n").forEach(function (line) {
      var bullet = /^\s*[-*+]\s+(.*)$/.exec(line), number = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      var heading = /^\s*#{1,6}\s+(.*)$/.exec(line);
      if (/^\s*\|/.test(line)) {
        if (/^\s*\|?[\s:|-]*-{2,}[\s:|-]*$/.test(line)) {  // the header's underline
          if (table && table.rows.length === 1) {
            var head = table.rows[0];
            Array.prototype.forEach.call(head.cells, function (c) {
              var th = el("th", { scope: "col" });
              while (c.firstChild) th.appendChild(c.firstChild);
              head.replaceChild(th, c);
            });
          }
          return;
        }
        if (!table) table = frag.appendChild(el("div", { class: "table" })).appendChild(el("table"));
        var row = table.appendChild(el("tr"));
        cells(line).forEach(function (c) { inline(c, row.appendChild(el("td"))); });
        list = para = null;
        return;
      }
      table = null;
      if (!line.trim()) { list = para = null; return; }
      if (bullet || number) {
        var tag = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== tag) list = frag.appendChild(el(tag));
        inline((bullet || number)[1], list.appendChild(el("li")));
        para = null;
        return;
      }
      list = null;
      if (heading) { inline(heading[1], frag.appendChild(el("p")).appendChild(el("strong"))); para = null; return; }
      if (para) para.appendChild(el("br")); else para = frag.appendChild(el("p"));
      inline(line, para);
    });
    return frag;
  }

  // ---------- the panel ----------
  var host = el("div", { id: "tier0-chat" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  // A constructed stylesheet needs no 'unsafe-inline' in the host page's Content-Security-Policy;
  // a <style> element is the fallback for browsers without one (and for no shadow DOM).
  if (host.attachShadow && "adoptedStyleSheets" in root && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css(cfg.color));
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", { text: css(cfg.color) }));
  }

  var launcher = el("button", {
    class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "t0-panel",
    "aria-label": "Open chat: " + cfg.title, onclick: function () { setOpen(true); },
  }, [icon("chat"), el("span", { text: "Chat with us" })]);
  var status = el("p", { class: "status", id: "t0-status", text: "Assistant" });
  // whether people answer now (GET /api/availability), under the status while the bot has the chat
  var avail = el("p", { class: "avail", id: "t0-avail", hidden: "" });
  var closeBtn = el("button", { class: "icon", type: "button", "aria-label": "Close chat", text: "×", onclick: function () { setOpen(false); } });
  var banner = el("div", { class: "banner", role: "status", hidden: "" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  var typing = el("div", { class: "typing", hidden: "" }, [
    el("span", { class: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]),
    el("span", { class: "sr", text: "The assistant is typing" }),
  ]);
  var human = el("button", { class: "human", type: "button", text: "Talk to a human", onclick: function () { send("Talk to a human", "/request_human"); } });
  // Search the help articles without chatting (GET /help/search.json); each result opens the
  // article in the help centre. A search with nothing good offers to ask it in the chat.
  var findToggle = el("button", { class: "human", type: "button", "aria-expanded": "false", "aria-controls": "t0-find", text: "Search help articles", onclick: function () { showFind(find.hidden); } });
  var findInput = el("input", { id: "t0-find-q", type: "search", maxlength: "500", autocomplete: "off", placeholder: "e.g. change my delivery address" });
  var findStatus = el("p", { class: "find-status", role: "status" });
  var findList = el("ul", { class: "find-results", "aria-label": "Help articles found" });
  var find = el("div", { class: "find", id: "t0-find", role: "search", hidden: "" }, [
    el("form", { onsubmit: function (e) { e.preventDefault(); searchArticles(findInput.value); } }, [
      el("label", { for: "t0-find-q", text: "Search help articles" }),
      el("div", { class: "find-row" }, [findInput, el("button", { class: "send", type: "submit", text: "Search" })]),
    ]),
    findStatus, findList,
  ]);
  var input = el("textarea", { id: "t0-input", rows: "1", maxlength: "2000", placeholder: "Type your question…", "aria-label": "Your message", autocomplete: "off" });
  var sendBtn = el("button", { class: "send", type: "submit", text: "Send" });
  var form = el("form", { class: "composer", onsubmit: function (e) { e.preventDefault(); submitTyped(); } }, [
    el("label", { class: "sr", for: "t0-input", text: "Your message" }), input, sendBtn,
  ]);
  var panel = el("section", { class: "panel", id: "t0-panel", role: "dialog", "aria-label": cfg.title, "aria-describedby": "t0-status", hidden: "" }, [
    el("header", {}, [el("div", {}, [el("h2", { text: cfg.title }), status, avail]), closeBtn]),
    banner, find, log, typing, el("div", { class: "actions" }, [human, findToggle]), form,
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitTyped(); }
  });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); setOpen(false); }
    else if (e.key === "Tab") trapTab(e);
  });

  // Below 480 px the open panel covers the page, so it is modal: Tab and Shift+Tab cycle
  // inside it instead of reaching the hidden page behind. On a wider screen it is a floating
  // panel beside the page, and Tab may leave it.
  var covers = window.matchMedia ? window.matchMedia("(max-width: 480px)") : { matches: false };
  function isModal() { return !panel.hidden && covers.matches; }
  function markModal() { if (isModal()) panel.setAttribute("aria-modal", "true"); else panel.removeAttribute("aria-modal"); }
  if (covers.addEventListener) covers.addEventListener("change", markModal);
  function focusables() {
    var all = panel.querySelectorAll("a[href], button, textarea, input, select, [tabindex]");
    return Array.prototype.filter.call(all, function (n) {
      return !n.disabled && n.tabIndex >= 0 && n.getClientRects().length > 0;
    });
  }
  function focused() { return (root.activeElement !== undefined ? root.activeElement : document.activeElement); }
  function trapTab(e) {
    if (!isModal()) return;
    var items = focusables();
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1], now = focused();
    var inside = now && panel.contains(now);
    if (e.shiftKey && (now === first || !inside)) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (now === last || !inside)) { e.preventDefault(); first.focus(); }
  }
  // Focus that reaches the page some other way (a script, a screen reader) comes back.
  document.addEventListener("focusin", function (e) {
    if (isModal() && e.target !== host && !host.contains(e.target)) input.focus();
  });

  function setOpen(open) {
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    markModal();
    try { sessionStorage.setItem(KEY + ":open", open ? "1" : ""); } catch (e) { /* ignore */ }
    if (open) {
      checkAvailability();
      if (!started) start();
      input.focus();
      scrollDown();
    } else {
      launcher.focus();
    }
  }

  // A page may open the panel with a question typed in, for the customer to send
  // (the help centre's "Ask in the chat" after a search with no good result).
  window.addEventListener("tier0chat:ask", function (e) {
    setOpen(true);
    var text = e.detail && e.detail.text ? String(e.detail.text).slice(0, 1000) : "";
    if (text) { input.value = text; input.focus(); }
  });

  // A help-centre guide that ends with a person: the panel opens and asks for one, with the
  // page's words (the guide and the path taken) as the customer's message for the ticket.
  window.addEventListener("tier0chat:human", function (e) {
    setOpen(true);
    var text = e.detail && e.detail.text ? String(e.detail.text).slice(0, 1000) : "";
    send(text || "Talk to a human", "/request_human");
  });

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function showFind(open) {
    find.hidden = !open;
    findToggle.setAttribute("aria-expanded", String(open));
    findToggle.textContent = open ? "Close article search" : "Search help articles";
    (open ? findInput : input).focus();
  }

  function articleList(results, list) {
    list.textContent = "";
    results.forEach(function (r) {
      var href = safeUrl(r.url);
      if (!href) return;
      var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, [
        el("span", { class: "title", text: r.title + (r.section ? " · " + r.section : "") }),
      ]);
      if (r.snippet) a.appendChild(el("span", { class: "snippet", text: r.snippet }));
      list.appendChild(el("li", {}, [a]));
    });
    return list.children.length;
  }

  var findAsked = 0;
  function searchArticles(query) {
    query = String(query || "").trim();
    if (!query) { findStatus.textContent = "Type what you are looking for."; findInput.focus(); return; }
    var mine = ++findAsked;
    findStatus.textContent = "Searching…";
    fetch(cfg.server + "/help/search.json?k=5&record=true&q=" + encodeURIComponent(query), { credentials: "omit", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (json) {
          if (!r.ok) throw new Error(describe(json) || "HTTP " + r.status);
          return json;
        });
      })
      .then(function (got) {
        if (mine !== findAsked) return;
        var shown = got.good ? articleList(got.results || [], findList) : 0;
        if (shown) { findStatus.textContent = shown + (shown === 1 ? " article found." : " articles found."); return; }
        findList.textContent = "";
        findStatus.textContent = "We couldn't find an article that answers this. ";
        findStatus.appendChild(el("button", { class: "human", type: "button", text: "Ask in the chat instead", onclick: function () {
          showFind(false);
          input.value = query.slice(0, 1000);
          input.focus();
        } }));
      }, function (err) {
        if (mine !== findAsked) return;
        findStatus.textContent = "Search isn't available right now: " + err.message;
      });
  }

  // Articles for the page the widget is on (setting widget_page_topics), under the greeting.
  function suggestForPage() {
    fetch(cfg.server + "/help/for-page.json?path=" + encodeURIComponent(location.pathname), { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (got) {
        if (!got || !got.results || !got.results.length) return;
        var list = el("ul", { class: "find-results", "aria-label": "Articles for this page" });
        if (!articleList(got.results, list)) return;
        log.insertBefore(el("div", { class: "note for-page" }, [el("p", { text: "These articles may help on this page:" }), list]), log.children[1] || null);
      }, function () { /* no suggestions: the chat works as ever */ });
  }

  function note(text, cls) {
    log.appendChild(el("p", { class: "note " + (cls || ""), text: text }));
    scrollDown();
  }

  function bubble(who, label) {
    var wrap = el("div", { class: "msg " + who });
    wrap.appendChild(el("span", { class: "sr", text: label + ": " }));
    return wrap;
  }

  function renderItem(item) {
    var rated = /^t(\d+)-rated$/.exec(item.id);
    if (rated && prompts[rated[1]]) { settle(rated[1], item.text, false); return; }  // rated elsewhere
    if (seen[item.id]) return;
    seen[item.id] = true;
    if (item.from === "rate") {
      renderRate(item);
    } else if (item.from === "user") {
      var u = bubble("user", "You");
      u.appendChild(el("p", { text: item.text }));
      log.appendChild(u);
    } else if (item.from === "agent") {
      var a = bubble("agent", "Agent");
      a.appendChild(el("p", { class: "who", text: item.agent || "Support agent" }));
      a.appendChild(markdown(item.text));
      log.appendChild(a);
    } else if (item.from === "system") {
      note(item.text, "system");
    } else {
      renderBot(item);
    }
    scrollDown();
  }

  function renderBot(item) {
    var meta = item.meta || {};
    var b = bubble("bot", "Assistant");
    var text = item.text || "";
    var cite = meta.outcome === "article" && meta.citation;
    if (cite) text = text.replace(/\n*Source: \[[^\]]*\]\([^)]*\)\s*$/, "");
    var cards = meta.outcome === "product" && Array.isArray(meta.products) && meta.products.length ? meta.products : null;
    // the list lines are for channels without cards: here the cards say it
    if (cards) text = text.split("\n").filter(function (line) { return !/^- \[/.test(line); }).join("\n");
    b.appendChild(markdown(text));
    if (cards) b.appendChild(productCards(cards.slice(0, 3), meta.more));
    if (cite) {
      var href = safeUrl(cite.url);
      var label = cite.section && cite.section !== cite.title ? cite.title + " › " + cite.section : cite.title;
      var c = el("p", { class: "citation" }, [el("span", { text: "Source: " })]);
      c.appendChild(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: label }) : el("span", { text: label }));
      b.appendChild(c);
    }
    if (item.buttons && item.buttons.length) {
      var row = el("div", { class: "buttons", role: "group", "aria-label": "Suggested replies" });
      item.buttons.forEach(function (btn) {
        row.appendChild(el("button", { type: "button", class: "quick", text: btn.title, onclick: function () { send(btn.title, btn.payload); } }));
      });
      b.appendChild(row);
    }
    if (meta.feedback) {
      var fb = el("div", { class: "feedback", role: "group", "aria-label": "Did this answer help?" }, [
        el("span", { text: "Did this help?" }),
        el("button", { type: "button", "aria-label": "Yes, this helped", title: "Yes", onclick: function () { feedback(fb, true); } }, [icon("up")]),
        el("button", { type: "button", "aria-label": "No, this didn't help", title: "No", onclick: function () { feedback(fb, false); } }, [icon("down")]),
      ]);
      b.appendChild(fb);
    }
    log.appendChild(b);
    if (lastBot) disableButtons(lastBot);
    lastBot = b;
  }

  // Product cards: picture, name, price (and the price before a sale), the availability of the
  // variant asked about, and a link to its page; one link per card, so Tab goes card to card
  // and a screen reader reads the whole card as the link's name.
  function productCards(cards, more) {
    var list = el("ul", { class: "products", "aria-label": "Products" });
    cards.forEach(function (c) {
      var href = safeUrl(c.link);
      var parts = [];
      var img = safeUrl(c.image);
      if (img) parts.push(el("img", { src: img, alt: "", width: "64", height: "44", loading: "lazy" }));
      var price = [el("span", { class: "now", text: c.price })];
      if (c.regular_price) price.push(el("s", { class: "was", text: c.regular_price, "aria-label": "was " + c.regular_price }));
      parts.push(el("span", { class: "info" }, [
        el("span", { class: "name", text: c.title }),
        el("span", { class: "price" }, price),
        el("span", { class: "stock " + String(c.availability || ""), text: c.availability_text || "" }),
      ]));
      var body = href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, parts) : el("div", {}, parts);
      list.appendChild(el("li", { class: "product" }, [body]));
    });
    var frag = document.createDocumentFragment();
    frag.appendChild(list);
    var moreHref = more && safeUrl(more.link);
    if (moreHref) frag.appendChild(el("p", { class: "more" }, [el("a", { href: moreHref, target: "_blank", rel: "noopener noreferrer", text: more.text })]));
    return frag;
  }

  // "How did we do?" after an agent resolved the chat: 1-5 and an optional comment. It sits in
  // the conversation and never blocks the message box; "No thanks" (or just typing on) skips it.
  function renderRate(item) {
    var tid = String(item.ticket_id);
    if (store.get("csat-skipped:" + tid)) return;
    // Only the latest resolved ticket takes a rating: an older question still open goes.
    Object.keys(prompts).forEach(function (k) { if (k !== tid) { prompts[k].remove(); delete prompts[k]; } });
    var base = "t0-csat-" + tid;
    var scale = el("div", { class: "scale", onchange: function () { error.textContent = ""; } });
    SCORES.forEach(function (word, i) {
      var n = String(i + 1);
      scale.appendChild(el("label", { class: "score" }, [
        el("input", { type: "radio", name: base, value: n, "aria-label": n + " — " + word }),
        el("span", { "aria-hidden": "true" }, [el("b", { text: n }), el("small", { text: word })]),
      ]));
    });
    var comment = el("textarea", { id: base + "-comment", rows: "2", maxlength: "1000", autocomplete: "off" });
    var error = el("p", { class: "csat-error", role: "alert" });
    var submit = el("button", { type: "submit", class: "csat-send", text: "Send rating" });
    var skip = el("button", { type: "button", class: "csat-skip", text: "No thanks", onclick: function () {
      store.set("csat-skipped:" + tid, "1");
      var inside = form.contains(focused());
      form.remove();
      delete prompts[tid];
      if (inside) input.focus();
    } });
    var who = item.agent ? "your chat with " + item.agent + " from our support team" : "the help you got from our support team";
    var form = el("form", { class: "csat", "aria-labelledby": base + "-q", novalidate: "", onsubmit: function (e) {
      e.preventDefault();
      var picked = form.querySelector("input:checked");
      if (!picked) {
        error.textContent = "Choose a rating from 1 to 5 first.";
        scale.querySelector("input").focus();
        form.scrollIntoView({ block: "nearest" });
        return;
      }
      error.textContent = "";
      submit.disabled = skip.disabled = true;  // (a disabled button drops the focus: settle puts it back)
      submit.textContent = "Sending…";
      api("POST", "/csat", { score: Number(picked.value), comment: comment.value }).then(function (res) {
        settle(tid, res.text, true);
      }, function (err) {
        if (err.status === 409) { settle(tid, "We already have your rating for this chat. Thank you!", true); return; }
        if (err.status === 404) { settle(tid, "This chat can't be rated any more.", true); return; }
        submit.disabled = skip.disabled = false;
        submit.textContent = "Send rating";
        submit.focus();
        error.textContent = err.status ? "Not sent: " + err.message : "Can't reach support right now. Try again in a moment.";
        form.scrollIntoView({ block: "nearest" });
      });
    } }, [
      el("fieldset", {}, [
        el("legend", { id: base + "-q", text: "How did we do?" }),
        el("p", { class: "hint", text: "Rate " + who + "." }),
        scale,
      ]),
      error,
      el("label", { for: base + "-comment", text: "Anything you'd like to add? (optional)" }),
      comment,
      el("div", { class: "csat-actions" }, [submit, skip]),
    ]);
    prompts[tid] = form;
    log.appendChild(form);
  }

  // A rating is in: the question becomes the thanks. The focus goes to the message box when the
  // customer sent it from here, or was in the question when it was rated elsewhere.
  function settle(tid, text, sentHere) {
    var form = prompts[tid], id = "t" + tid + "-rated";
    delete prompts[tid];
    var inside = sentHere || (form && form.contains(focused()));
    if (seen[id]) { if (form) form.remove(); }
    else {
      seen[id] = true;
      var thanks = el("p", { class: "note system", text: text });
      if (form) form.replaceWith(thanks); else log.appendChild(thanks);
    }
    if (inside) input.focus();
    scrollDown();
  }

  function disableButtons(node) {
    Array.prototype.forEach.call(node.querySelectorAll(".buttons button, .feedback button"), function (x) { x.disabled = true; });
  }

  function feedback(group, helpful) {
    disableButtons(group);
    send(helpful ? "That helped" : "That didn't help", helpful ? "/feedback_helpful" : "/feedback_not_helpful");
  }

  function showHandoff(state) {
    handoff = state || { state: "bot" };
    if (handoff.state !== "bot") fastUntil = Date.now() + 30000;
    var text = "Assistant";
    if (handoff.state === "waiting") {
      text = handoff.position === 1 ? "Waiting for an agent: you're next" :
        handoff.position ? "Waiting for an agent: you're number " + handoff.position + " in the queue" : "Waiting for an agent";
    } else if (handoff.state === "agent") {
      text = "You're chatting with " + (handoff.agent || "an agent");
    } else if (handoff.state === "email") {
      text = "Our team will answer by email";
    }
    status.textContent = text;
    avail.hidden = handoff.state !== "bot" || !avail.textContent;
    panel.setAttribute("data-handoff", handoff.state);
    human.hidden = handoff.state !== "bot";
    schedulePoll();
  }

  function showBanner(text, retry) {
    banner.textContent = "";
    if (!text) { banner.hidden = true; return; }
    banner.appendChild(el("span", { text: text }));
    if (retry) banner.appendChild(el("button", { type: "button", text: "Retry now", onclick: retry }));
    banner.hidden = false;
  }

  var availChecked = 0;
  function checkAvailability() {
    if (Date.now() - availChecked < 60000) return;  // at most once a minute
    availChecked = Date.now();
    var url = cfg.server + "/api/availability" + (/^[A-Za-z0-9_+\-\/]+$/.test(ZONE) ? "?tz=" + encodeURIComponent(ZONE) : "");
    fetch(url, { credentials: "omit", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (got) {
      if (!got || typeof got.text !== "string") return;
      avail.textContent = got.text;
      panel.setAttribute("data-available", got.live ? "yes" : "no");
      avail.hidden = handoff.state !== "bot";
    }, function () { /* offline: the line stays as it was */ });
  }

  // ---------- talking to the server ----------
  // The server makes conversation ids (it refuses any other with 403): ask for one before the
  // first message, and again when the stored one is refused or the conversation is full (409).
  var asking = null;
  function ensureConversation() {
    if (conversationId) return Promise.resolve(conversationId);
    if (!asking) {
      asking = fetch(cfg.server + "/api/chat/conversations", { method: "POST", credentials: "omit", cache: "no-store" })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (json) {
            if (!r.ok || !json.conversation_id) {
              var err = new Error(describe(json) || "HTTP " + r.status);
              err.status = r.status;
              throw err;
            }
            conversationId = json.conversation_id;
            store.set("id", conversationId);
            return conversationId;
          });
        })
        .then(function (id) { asking = null; return id; }, function (err) { asking = null; throw err; });
    }
    return asking;
  }

  function forgetConversation() {
    conversationId = null;
    store.del("id");
    cursor = 0;
  }

  function api(method, path, body) {
    var url = cfg.server + "/api/chat/" + encodeURIComponent(conversationId) + path;
    var opts = { method: method, headers: {}, credentials: "omit", cache: "no-store" };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        if (!r.ok) {
          var err = new Error(describe(json) || "HTTP " + r.status);
          err.status = r.status;
          throw err;
        }
        return json;
      });
    });
  }

  function describe(json) {
    var d = json && json.detail;
    if (typeof d === "string") return d;
    if (d && d.length && d[0].msg) return d[0].msg.replace(/^Value error, /, "");
    return "";
  }

  function apply(update) {
    if (update.earlier && !cursor) note("Earlier messages of this conversation are not shown.", "earlier");
    (update.items || []).forEach(renderItem);
    cursor = Math.max(cursor, update.cursor || 0);
    showHandoff(update.handoff);
  }

  function start() {
    started = true;
    note(cfg.greeting, "greeting");
    suggestForPage();
    sync();
  }

  function sync() {
    if (!conversationId || !started) return Promise.resolve();
    return api("GET", "?after=" + cursor).then(function (update) {
      apply(update);
      if (!outbox.length) showBanner("");
    }, function (err) {
      if (err.status === 403) { forgetConversation(); return; }  // not one the server made
      if (err.status && err.status < 500) return;
      showBanner("Can't reach support right now. Trying again…");
    }).then(schedulePoll);
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    if (!conversationId || !started || document.hidden) return;
    // Poll fast while a person owns the chat, and for a while after, so the bot's return shows.
    pollTimer = setTimeout(sync, Date.now() < fastUntil ? POLL_HANDOFF : POLL_IDLE);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) sync(); });

  function submitTyped() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text, null);
  }

  function send(text, payload) {
    var pending = bubble("user pending", "You");
    pending.appendChild(el("p", { text: text }));
    pending.appendChild(el("span", { class: "state", text: "Sending…" }));
    log.appendChild(pending);
    scrollDown();
    if (lastBot) disableButtons(lastBot);
    // one id per message, kept across re-sends: the server answers a message once however
    // often it is sent (a re-send after a timeout finds it already answered)
    outbox.push({ text: text, payload: payload, node: pending, id: newId(), tries: 0 });
    flush();
  }

  function flush() {
    if (sending || !outbox.length) return;
    var msg = outbox[0];
    sending = true;
    typing.hidden = false;
    clearTimeout(retryTimer);
    var body = msg.payload ? { text: msg.text, payload: msg.payload } : { text: msg.text };
    body.message_id = msg.id;
    if (/^[A-Za-z0-9_+\-\/]+$/.test(ZONE) && ZONE.length <= 64) body.timezone = ZONE;
    if (msg.tries++) body.resend = true;
    ensureConversation().then(function () {
      return api("POST", "/messages?after=" + cursor, body);
    }).then(function (update) {
      outbox.shift();
      msg.node.remove();
      retryDelay = 0;
      showBanner("");
      apply(update);
    }, function (err) {
      if ((err.status === 403 || err.status === 409) && !msg.renewed) {
        // an id the server did not make (an old widget's), or a conversation grown full:
        // the message goes again in a new conversation
        msg.renewed = true;
        msg.tries = 0;
        forgetConversation();
        if (err.status === 409) note("This conversation grew very long, so a new one has started.", "renewed");
        retryTimer = setTimeout(retryNow, 0);
        return;
      }
      if (err.status && err.status < 500) {  // the server said no: show why, don't retry
        outbox.shift();
        msg.node.classList.remove("pending");
        msg.node.classList.add("failed");
        msg.node.querySelector(".state").textContent = "Not sent: " + err.message;
        return;
      }
      retryDelay = Math.min(retryDelay ? retryDelay * 2 : 2000, RETRY_MAX);
      msg.node.querySelector(".state").textContent = "Not sent yet. Retrying…";
      showBanner("Can't reach support right now. Retrying in " + Math.round(retryDelay / 1000) + " s…", retryNow);
      retryTimer = setTimeout(retryNow, retryDelay);
    }).then(function () {
      sending = false;
      typing.hidden = true;
      if (outbox.length && !retryTimer) flush();
    });
  }

  function retryNow() {
    clearTimeout(retryTimer);
    retryTimer = null;
    flush();
  }
  window.addEventListener("online", retryNow);

  function mount() {
    document.body.appendChild(host);
    var wasOpen = false;
    try { wasOpen = !!sessionStorage.getItem(KEY + ":open"); } catch (e) { /* ignore */ }
    if (cfg.open || wasOpen) setOpen(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  function css(color) {
    return [
      ":host{all:initial}",
      "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
      ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
      "[hidden]{display:none!important}",
      "button{font:inherit;cursor:pointer}",
      ":focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
      ".launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;background:" + color + ";color:#fff;font-size:16px;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
      ".panel{position:fixed;right:16px;bottom:16px;z-index:2147483000;width:380px;max-width:calc(100vw - 16px);height:600px;max-height:calc(100vh - 32px);display:flex;flex-direction:column;background:#fff;color:#1b1f24;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);font-size:15px;overflow:hidden}",
      "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}",
      "header{display:flex;justify-content:space-between;align-items:flex-start;padding:12px 14px;background:" + color + ";color:#fff}",
      "h2{margin:0;font-size:17px}.status{margin:2px 0 0;font-size:13px;opacity:.95}",
      ".avail{margin:2px 0 0;font-size:12px;opacity:.9}.avail::before{content:'';display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:#c9c9c9;vertical-align:middle}",
      "[data-available=yes] .avail::before{background:#3ecf6e}",
      ".icon{background:transparent;border:0;color:#fff;font-size:26px;line-height:1;padding:0 4px}",
      ".banner{display:flex;gap:8px;align-items:center;justify-content:space-between;padding:8px 12px;background:#fff4e5;color:#663c00;font-size:14px;border-bottom:1px solid #f0c36d}",
      ".banner button{border:1px solid #663c00;background:#fff;border-radius:6px;padding:2px 8px}",
      ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fa}",
      ".msg{max-width:88%;padding:8px 12px;border-radius:12px;line-height:1.4;word-wrap:break-word;overflow-wrap:anywhere}",
      ".msg p{margin:0 0 6px}.msg p:last-child{margin-bottom:0}.msg ul,.msg ol{margin:4px 0 6px;padding-left:20px}",
      ".msg a{color:" + color + "}.msg code{background:#eef1f4;padding:0 3px;border-radius:3px}",
      ".user{align-self:flex-end;background:" + color + ";color:#fff}.user a{color:#fff}",
      ".user.pending{opacity:.75}.user.failed{background:#b42318}.state{display:block;font-size:12px;margin-top:4px}",
      ".bot{align-self:flex-start;background:#fff;border:1px solid #d0d7de}",
      ".agent{align-self:flex-start;background:#eaf5ea;border:1px solid #9ccf9c}.who{font-weight:600;font-size:13px}",
      ".note{align-self:center;margin:4px 0;font-size:13px;color:#57606a;text-align:center}",
      ".note.greeting{align-self:flex-start;text-align:left;background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:8px 12px;color:#1b1f24;font-size:15px;max-width:88%}",
      ".citation{font-size:13px;border-top:1px solid #e5e8eb;padding-top:6px;margin-top:6px!important}",
      ".buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}",
      ".products{list-style:none;margin:8px 0 0;padding:0;display:grid;gap:6px}",
      ".product a,.product>div{display:flex;gap:8px;align-items:center;padding:6px;border:1px solid #e5e8eb;border-radius:8px;color:inherit;text-decoration:none;background:#fff}",
      ".product a:hover .name{text-decoration:underline}",
      ".product img{width:64px;height:44px;object-fit:cover;border-radius:4px;flex:none}",
      ".product .info{display:flex;flex-direction:column;min-width:0}",
      ".product .name{font-weight:600;overflow-wrap:anywhere}",
      ".product .was{color:#5c6670;margin-left:6px;font-size:13px}",
      ".product .stock{font-size:13px;color:#3d4750}",
      ".product .stock.out_of_stock{color:#8c2f1b}",
      ".more{margin:6px 0 0!important;font-size:13px}",
      ".quick{border:1px solid " + color + ";color:" + color + ";background:#fff;border-radius:16px;padding:5px 12px;text-align:left}",
      ".quick:disabled,.feedback button:disabled{opacity:.5;cursor:default}",
      ".feedback{display:flex;gap:6px;align-items:center;margin-top:8px;font-size:13px;color:#57606a}",
      ".feedback button{border:1px solid #d0d7de;background:#fff;border-radius:6px;padding:2px 8px;font-size:16px}",
      ".feedback svg{width:16px;height:16px;fill:#57606a;vertical-align:middle}",
      ".launcher{display:flex;gap:8px;align-items:center}.launcher svg{width:20px;height:20px;fill:#fff}",
      ".table{overflow-x:auto;margin:4px 0 6px}table{border-collapse:collapse;font-size:13px;width:100%}",
      "th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:normal}th{background:#f0f3f6}",
      ".typing{padding:4px 16px;background:#f6f8fa}.dots i{display:inline-block;width:7px;height:7px;margin-right:3px;border-radius:50%;background:#8c959f;animation:t0 1s infinite}",
      ".dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}",
      "@keyframes t0{0%,80%,100%{opacity:.3}40%{opacity:1}}",
      "@media (prefers-reduced-motion:reduce){.dots i{animation:none}}",
      ".actions{padding:6px 12px 0;background:#fff;border-top:1px solid #d0d7de}",
      ".human{border:0;background:transparent;color:" + color + ";text-decoration:underline;padding:2px 0;font-size:14px}",
      ".actions{display:flex;flex-wrap:wrap;gap:4px 16px}",
      ".find{padding:8px 12px;background:#fff;border-bottom:1px solid #d0d7de;max-height:45%;overflow-y:auto}",
      ".find label{display:block;font-size:13px;margin-bottom:4px}.find-row{display:flex;gap:8px}",
      ".find input{flex:1;min-width:0;font:inherit;padding:6px 8px;border:1px solid #8c959f;border-radius:8px}",
      ".find-status{margin:6px 0 0;font-size:13px;color:#3d4750}.find-status:empty{display:none}",
      ".find-results{list-style:none;margin:6px 0 0;padding:0;display:grid;gap:6px}",
      ".find-results a{display:flex;flex-direction:column;padding:6px 8px;border:1px solid #e5e8eb;border-radius:8px;color:inherit;text-decoration:none;background:#fff}",
      ".find-results a:hover .title{text-decoration:underline}",
      ".find-results .title{font-weight:600;color:" + color + "}.find-results .snippet{font-size:13px;color:#3d4750}",
      ".note.for-page{align-self:stretch;text-align:left;margin:4px 0}.note.for-page p{margin:0 0 2px}",
      ".composer{display:flex;gap:8px;padding:8px 12px 12px;background:#fff}",
      "textarea{flex:1;resize:none;font:inherit;padding:8px;border:1px solid #8c959f;border-radius:8px;min-height:40px;max-height:120px}",
      ".send{border:0;border-radius:8px;padding:0 16px;background:" + color + ";color:#fff}",
      ".csat{align-self:stretch;margin:0;padding:10px 12px;background:#fff;border:1px solid #d0d7de;border-radius:12px}",
      ".csat fieldset{border:0;margin:0;padding:0;min-width:0}.csat legend{padding:0;font-weight:600;font-size:16px}",
      ".csat .hint{margin:2px 0 8px;font-size:13px;color:#57606a}",
      ".scale{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:4px}",
      ".score{position:relative;display:flex}",
      ".score input{position:absolute;top:0;left:0;width:100%;height:100%;margin:0;opacity:0;cursor:pointer}",
      ".score span{flex:1;display:flex;flex-direction:column;align-items:center;justify-content:center;min-width:0;min-height:48px;padding:4px 0;border:1px solid #8c959f;border-radius:8px;background:#fff;text-align:center;line-height:1.2}",
      ".score b{font-size:17px}.score small{max-width:100%;overflow:hidden;text-overflow:ellipsis;font-size:11px;color:#57606a;white-space:nowrap}",
      ".score input:hover+span{border-color:" + color + "}",
      ".score input:checked+span{background:" + color + ";border-color:" + color + ";color:#fff}.score input:checked+span small{color:#fff}",
      ".score input:focus-visible+span{outline:3px solid #ffbf47;outline-offset:2px}",
      ".csat label[for]{display:block;margin:10px 0 4px;font-size:13px}",
      ".csat textarea{display:block;width:100%;min-height:52px}",
      ".csat-error{margin:6px 0 0;font-size:13px;color:#b42318}.csat-error:empty{display:none}",
      ".csat-actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}",
      ".csat-send{border:0;border-radius:8px;padding:8px 14px;background:" + color + ";color:#fff}",
      ".csat-skip{border:1px solid #8c959f;border-radius:8px;padding:8px 14px;background:#fff;color:#1b1f24}",
      ".csat button:disabled{opacity:.6;cursor:default}",
    ].join("\n");
  }
})();
