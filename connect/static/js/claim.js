/* claim.js: the claim page lives on its own. It counts down the time the need stays yours and
 * checks the request's status every 10 s (GET /api/v1/requests/<id>, the session cookie
 * signs it), so a cancellation, a confirmation or the end of the claim shows without a
 * reload and is announced in the page's status region. Without JavaScript the page prints
 * the deadline instead.
 *
 *   <div data-claim data-status-url="/api/v1/requests/7" data-lease-seconds="14400"
 *        data-locale="vi" data-msg-left-hm="{h} h {m} min left" data-msg-left-m="{m} min left"
 *        data-msg-until="Yours until {t}" data-msg-lapsed data-msg-open data-msg-cancelled
 *        data-msg-confirmed data-msg-helped data-msg-closed data-msg-hidden data-msg-offline>
 *     <p data-claim-status role="status"></p>  <section data-claim-details>…</section>
 *     <span data-lease-until></span> <span data-lease-left></span>  <div data-claim-actions>
 */
(function () {
  "use strict";
  var POLL_MS = 10000;
  var TICK_MS = 15000;

  var root = document.querySelector("[data-claim]");
  if (!root || !window.fetch) { return; }

  function msg(name) { return root.getAttribute("data-msg-" + name) || ""; }
  function part(name) { return root.querySelector("[data-" + name + "]"); }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values.hasOwnProperty(key) ? String(values[key]) : all;
    });
  }

  var statusEl = part("claim-status");
  var leftEl = part("lease-left");
  var untilEl = part("lease-until");
  var seconds = parseInt(root.getAttribute("data-lease-seconds"), 10) || 0;
  // Counted from this page's own clock: a phone whose clock is wrong still counts right.
  var deadline = Date.now() + seconds * 1000;
  var locale = root.getAttribute("data-locale") || undefined;
  var ended = false;
  var offlineEl = null;

  function say(text) {
    if (statusEl && statusEl.textContent !== text) { statusEl.textContent = text; }
  }

  function showUntil() {
    if (!untilEl) { return; }
    try {
      var time = new Date(deadline).toLocaleTimeString(locale, { hour: "2-digit",
                                                                 minute: "2-digit" });
      untilEl.textContent = fill(msg("until"), { t: time });
    } catch (e) { /* keep the server's words */ }
  }

  function tick() {
    if (ended || !leftEl) { return; }
    var left = Math.max(0, deadline - Date.now());
    var minutes = Math.ceil(left / 60000);
    var h = Math.floor(minutes / 60);
    var m = minutes % 60;
    leftEl.textContent = h ? fill(msg("left-hm"), { h: h, m: m }) : fill(msg("left-m"), { m: m });
    if (left === 0) { poll(); }
  }

  function end(kind) {
    ended = true;
    say(msg(kind) || msg("closed"));
    root.className += " claim-ended";
    var hide = ["claim-actions", "claim-details"];
    for (var i = 0; i < hide.length; i += 1) {
      var el = part(hide[i]);
      if (el) { el.hidden = true; }
    }
    var lease = leftEl && leftEl.parentNode;
    if (lease) { lease.hidden = true; }
  }

  function offline(on) {
    if (on && !offlineEl) {
      offlineEl = document.createElement("p");
      offlineEl.className = "claim-offline";
      offlineEl.textContent = msg("offline");
      statusEl.parentNode.insertBefore(offlineEl, statusEl.nextSibling);
    } else if (!on && offlineEl) {
      offlineEl.parentNode.removeChild(offlineEl);
      offlineEl = null;
    }
  }

  function update(body) {
    if (body.status === "claimed" && body.phone) { return; }  // still yours
    if (body.status === "claimed" || body.status === "open") {
      // Someone else's claim now, or open again: after the deadline, the time ran out.
      end(Date.now() >= deadline ? "lapsed" : "open");
    } else if (body.status === "cancelled" || body.status === "confirmed" ||
               body.status === "helped") {
      end(body.status);
    } else {
      end(body.status === "hidden" ? "hidden" : "closed");
    }
  }

  var inFlight = false;
  function poll() {
    if (ended || inFlight || document.hidden) { return; }
    inFlight = true;
    fetch(root.getAttribute("data-status-url"), {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" }
    }).then(function (response) {
      if (response.status === 404) { return { status: "gone" }; }
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    }).then(function (body) {
      inFlight = false;
      offline(false);
      update(body);
    }).catch(function () {
      inFlight = false;
      offline(true);
    });
  }

  showUntil();
  tick();
  window.setInterval(tick, TICK_MS);
  window.setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { tick(); poll(); }
  });
}());
