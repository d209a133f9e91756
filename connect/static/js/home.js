/* Home page: keep the count of neighbours helped up to date (GET /api/v1/stats every 30 s).
 *
 * Reads from #assist-count: data-stats-url, data-count (the server-rendered number) and
 * data-one / data-other, the two translated wordings with "{count}" where the number goes.
 * Never asks for the visitor's location. Pauses while the tab is hidden, to save data. */
(function () {
  "use strict";
  var PERIOD_MS = 30000;
  var el = document.getElementById("assist-count");
  if (!el || !window.fetch) { return; }
  var url = el.getAttribute("data-stats-url");
  var count = Number(el.getAttribute("data-count"));
  var plural = window.Intl && Intl.PluralRules
    ? new Intl.PluralRules(document.documentElement.lang || "vi") : null;
  var timer = null;
  var busy = false;

  function show(next) {
    if (next === count) { return; }
    count = next;
    var form = plural && plural.select(next) === "one" ? "one" : "other";
    var wording = el.getAttribute("data-" + form) || "{count}";
    el.textContent = wording.replace("{count}", String(next));
    el.setAttribute("data-count", String(next));
  }

  function schedule() {
    if (timer === null && !document.hidden) { timer = window.setTimeout(poll, PERIOD_MS); }
  }

  function poll() {
    timer = null;
    if (busy) { return; }
    busy = true;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (stats) {
        if (stats && stats.assists && typeof stats.assists.helped === "number") {
          show(stats.assists.helped);
        }
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .then(function () { busy = false; schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else if (timer === null) {
      poll();
    }
  });
  schedule();
}());
