/* The requester's manage page: a copy button for the private link, and the status kept up to
 * date without reloading.
 *
 * Copy: <button data-copy="#selector" data-copied="…" data-copy-failed="…" hidden> copies the
 * text of #selector; messages go to the [data-copy-status] next to it. Without JavaScript the
 * button stays hidden and the link is plain text to select.
 *
 * Status: [data-request-status] carries data-poll-url (GET /api/v1/requests/<id>),
 * data-manage-token (sent as X-Manage-Token) and data-status. Every 10 s it asks for the
 * status; on a change it shows the matching [data-status-text="<status>"] block, shows each
 * [data-when="<status> <status>…"] element only for those statuses, and reads the new status
 * out through [data-status-announce] (aria-live). It stops once the request is closed, backs
 * off while offline, and pauses while the tab is hidden, to spare slow mobile data.
 */
(function () {
  "use strict";

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // -- copy the private link -------------------------------------------------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      document.body.removeChild(area);
      if (copied) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  each(document.querySelectorAll("[data-copy]"), function (button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector("[data-copy-status]");
    if (!source || !window.Promise) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(source.textContent.trim()).then(function () {
        if (status) { status.textContent = button.getAttribute("data-copied"); }
      }, function () {
        selectText(source);
        if (status) { status.textContent = button.getAttribute("data-copy-failed"); }
      });
    });
  });

  // -- status without reloading ------------------------------------------------------------

  var PERIOD_MS = 10000;
  var MAX_WAIT_MS = 60000;
  var CLOSED = ["confirmed", "cancelled", "expired", "hidden"];
  var root = document.querySelector("[data-request-status]");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-poll-url");
  var token = root.getAttribute("data-manage-token");
  var status = root.getAttribute("data-status");
  var announce = root.querySelector("[data-status-announce]");
  var wait = PERIOD_MS;
  var timer = null;
  var busy = false;
  var stopped = false;

  function show(next) {
    // Open again after a claim (released, or its time ran out): "the volunteer could not come".
    if (next === "open" && (status === "claimed" || status === "reopened")) { next = "reopened"; }
    var block = root.querySelector('[data-status-text="' + next + '"]');
    if (next === status || !block) { return; }
    status = next;
    root.setAttribute("data-status", next);
    each(root.querySelectorAll("[data-status-text]"), function (el) {
      el.hidden = el.getAttribute("data-status-text") !== next;
    });
    each(document.querySelectorAll("[data-when]"), function (el) {
      el.hidden = el.getAttribute("data-when").split(" ").indexOf(next) < 0;
    });
    if (announce) {
      // "Title. Explanation." read as two sentences.
      var parts = Array.prototype.map.call(block.querySelectorAll("p"), function (p) {
        return p.textContent.replace(/\s+/g, " ").trim().replace(/[.!?]?$/, ".");
      });
      announce.textContent = parts.join(" ");
    }
  }

  function closed() { return stopped || CLOSED.indexOf(status) >= 0; }

  function schedule() {
    if (timer === null && !busy && !closed() && !document.hidden) {
      timer = window.setTimeout(poll, wait);
    }
  }

  function poll() {
    timer = null;
    if (busy) { return; }
    busy = true;
    fetch(url, { headers: { "X-Manage-Token": token, Accept: "application/json" },
                 cache: "no-store", credentials: "same-origin", referrerPolicy: "no-referrer" })
      .then(function (response) {
        if (response.status === 404 || response.status === 403) {
          stopped = true;  // gone, or the link no longer opens it: stop asking
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        if (body && body.status) { show(body.status); }
        wait = PERIOD_MS;
      }, function () {
        wait = Math.min(wait * 2, MAX_WAIT_MS);
      })
      .then(function () { busy = false; schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else if (timer === null && !closed()) {
      poll();
    }
  });
  schedule();
}());
