/* inbox.js: the volunteer's inbox, live. Needs pushed to this volunteer (and lease reminders,
 * assignments) appear without a reload, newest first, with the unread count, and are read out
 * politely through [data-inbox-announce] (aria-live). Without JavaScript the page shows what
 * it had when it loaded.
 *
 * Long polling: GET data-poll-url?after=<last id>&wait=25 (the session cookie signs it) is
 * held by the server until something newer exists or 25 s pass; then the next poll goes out
 * at once. When the server holds as many polls as it can, it answers `live: false` at once:
 * poll again in 10 s (short polling) until it has room. The first poll waits until the page
 * has settled (the page itself came with everything up to data-after); polling pauses while
 * the tab is hidden and backs off while offline.
 *
 * Notices are built as templates/volunteer/_inbox.html notice() builds them; words come from
 * data-msg-* (with {n}, {t} placeholders), data-titles (per kind), data-categories (labels).
 * "Mark all as read" ([data-inbox-read], a form that works without this file) is sent with
 * fetch, staying on the page.
 */
(function () {
  "use strict";
  var WAIT_S = 25;
  var START_MS = 1500;
  var BUSY_MS = 10000;
  var MAX_BACKOFF_MS = 60000;

  var root = document.querySelector("[data-inbox]");
  if (!root || !window.fetch || !window.JSON) { return; }

  function part(name) { return root.querySelector("[data-inbox-" + name + "]"); }
  function msg(name) { return root.getAttribute("data-msg-" + name) || ""; }
  function json(name) {
    try { return JSON.parse(root.getAttribute(name) || "{}"); } catch (e) { return {}; }
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var list = part("list");
  var unreadEl = part("unread");
  var mutedEl = part("muted");
  var emptyEl = part("empty");
  var announceEl = part("announce");
  var readForm = part("read");
  var upToInput = part("up-to");
  var titles = json("data-titles");
  var categories = json("data-categories");
  var locale = root.getAttribute("data-locale") || undefined;
  var url = root.getAttribute("data-poll-url");
  var after = parseInt(root.getAttribute("data-after"), 10) || 0;
  var limit = parseInt(root.getAttribute("data-limit"), 10) || 5;
  var timer = null;
  var inFlight = null;
  var backoff = BUSY_MS;
  var stopped = false;
  var offlineEl = null;

  // -- a notice, as the server renders it ------------------------------------------------

  function number(value, digits) {
    try { return value.toLocaleString(locale, { maximumFractionDigits: digits }); } catch (e) {
      return String(value);
    }
  }

  function distance(metres) {
    if (!metres) { return msg("near"); }  // rounded to 100 m: 0 is "less than 100 m"
    return metres < 1000 ? number(metres, 0) + " m" : number(metres / 1000, 1) + " km";
  }

  function clock(iso) {
    try {
      return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    } catch (e) { return ""; }
  }

  function labels(names) {
    return (names || []).map(function (name) { return categories[name] || name; }).join(", ");
  }

  function claimForm(requestId) {
    var form = el("form");
    form.method = "post";
    form.action = fill(root.getAttribute("data-claim-url"), { id: requestId });
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = root.getAttribute("data-csrf") || "";
    var button = el("button", "button-block", msg("claim"));
    button.type = "submit";
    form.appendChild(token);
    form.appendChild(button);
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-busy")) { event.preventDefault(); return; }
      form.setAttribute("data-busy", "");
      button.textContent = msg("busy");
      button.setAttribute("aria-disabled", "true");
    });
    return form;
  }

  function render(item) {
    var p = item.payload || {};
    var kind = item.kind;
    var li = el("li", "card notice notice-" + kind.replace(/_/g, "-") +
                (item.read ? "" : " notice-unread"));
    li.setAttribute("data-notice-id", item.id);
    li.appendChild(el("p", "notice-title", titles[kind] || kind));
    if (p.categories && p.categories.length) {
      var kinds = el("p", "need-kinds");
      if (p.urgency === "urgent") {
        kinds.appendChild(el("span", "badge badge-urgent", msg("urgent")));
        kinds.appendChild(document.createTextNode(" "));
      }
      kinds.appendChild(document.createTextNode(labels(p.categories)));
      li.appendChild(kinds);
    }
    if (p.description) { li.appendChild(el("p", "need-text", p.description)); }
    var facts = el("p", "need-facts");
    if (typeof p.distance_m === "number") {
      facts.appendChild(el("span", "need-distance", distance(p.distance_m)));
      facts.appendChild(document.createTextNode(" · "));
    }
    if (p.household_size) {
      facts.appendChild(document.createTextNode(
        fill(msg(p.household_size === 1 ? "person" : "people"), { n: p.household_size }) + " · "));
    }
    facts.appendChild(el("span", "notice-age", msg("now")));
    li.appendChild(facts);
    if (kind === "new_request" && item.request_open) {
      li.appendChild(claimForm(item.request_id));
    } else if (kind === "new_request") {
      li.appendChild(el("p", "hint", msg("taken")));
    } else if (kind === "lease_reminder" || kind === "assigned") {
      if (p.lease_ends_at) {
        li.appendChild(el("p", "lease", fill(msg("lease-until"), { t: clock(p.lease_ends_at) })));
      }
      var open = el("a", "button button-block", msg("open-claim"));
      open.href = fill(root.getAttribute("data-claim-page-url"), { id: item.request_id });
      li.appendChild(open);
    } else if (kind === "lease_expired") {
      li.appendChild(el("p", "hint", msg("lapsed")));
    }
    return li;
  }

  function spoken(item) {
    var p = item.payload || {};
    var words = [titles[item.kind] || item.kind];
    if (p.urgency === "urgent") { words.push(msg("urgent")); }
    if (p.categories && p.categories.length) { words.push(labels(p.categories)); }
    if (typeof p.distance_m === "number") { words.push(distance(p.distance_m)); }
    return words.join(", ") + ".";
  }

  // -- the page's state ---------------------------------------------------------------------

  function show(unread, muted) {
    if (unreadEl) {
      unreadEl.textContent = fill(msg("unread"), { n: unread });
      unreadEl.hidden = !unread;
    }
    if (readForm) { readForm.hidden = !unread; }
    if (upToInput) { upToInput.value = after; }
    if (mutedEl && typeof muted === "boolean") { mutedEl.hidden = !muted; }
  }

  function add(items) {
    if (!items.length) { return; }
    for (var i = 0; i < items.length; i += 1) {
      if (list.querySelector('[data-notice-id="' + items[i].id + '"]')) { continue; }
      list.insertBefore(render(items[i]), list.firstChild);
    }
    while (list.children.length > limit) { list.removeChild(list.lastChild); }
    if (emptyEl) { emptyEl.hidden = true; }
    if (announceEl) {
      announceEl.textContent = items.length === 1 ? spoken(items[0])
        : fill(msg("many"), { n: items.length });
    }
  }

  function offline(on) {
    if (on && !offlineEl) {
      offlineEl = el("p", "hint inbox-offline", msg("offline"));
      list.parentNode.insertBefore(offlineEl, list);
    } else if (!on && offlineEl) {
      offlineEl.parentNode.removeChild(offlineEl);
      offlineEl = null;
    }
  }

  // -- long polling ---------------------------------------------------------------------------

  function schedule(ms) {
    if (timer !== null) { window.clearTimeout(timer); }
    timer = stopped ? null : window.setTimeout(poll, ms);
  }

  function poll() {
    timer = null;
    if (stopped || inFlight || document.hidden) { return; }
    var started = Date.now();
    var controller = window.AbortController ? new window.AbortController() : null;
    inFlight = controller || true;
    fetch(url + "?after=" + after + "&wait=" + WAIT_S + "&limit=" + Math.max(limit, 20), {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        stopped = true;  // logged out meanwhile: nothing more to fetch
        return null;
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (body) {
      inFlight = null;
      if (!body) { return; }
      offline(false);
      backoff = BUSY_MS;
      add(body.items || []);
      after = Math.max(after, body.last_id || 0);
      show(body.unread, body.muted);
      var quick = Date.now() - started < 1000 && !(body.items || []).length;
      // Not held (the server is at its limit, or does not hold polls): short polling.
      schedule(body.has_more ? 0 : (body.live === false || quick ? BUSY_MS : 0));
    }, function (error) {
      inFlight = null;
      if (error && error.name === "AbortError") { return; }
      offline(true);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      schedule(backoff);
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !inFlight) { schedule(0); }
  });
  window.addEventListener("pagehide", function () {
    stopped = true;
    if (inFlight && inFlight.abort) { inFlight.abort(); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { stopped = false; schedule(0); }
  });

  // -- mark all as read, staying on the page -------------------------------------------------

  if (readForm && window.FormData) {
    readForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (upToInput) { upToInput.value = after; }
      fetch(readForm.action, { method: "POST", body: new FormData(readForm),
                               credentials: "same-origin", redirect: "manual" })
        .then(function (response) {
          if (response.type !== "opaqueredirect" && !response.ok) {
            throw new Error("HTTP " + response.status);
          }
          var unread = list.querySelectorAll(".notice-unread");
          for (var i = 0; i < unread.length; i += 1) {
            unread[i].className = unread[i].className.replace(" notice-unread", "");
          }
          show(0);
          if (announceEl) { announceEl.textContent = msg("all-read"); }
        }, function () { readForm.submit(); });
    });
  }

  // After the page has loaded and settled: its own resources first on a slow connection.
  if (document.readyState === "complete") {
    schedule(START_MS);
  } else {
    window.addEventListener("load", function () { schedule(START_MS); });
  }
}());
