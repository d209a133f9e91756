/* offers-map.js: offers of help as blue dots on the needs map (needs-map.js builds the map and
 * hands it over as el.connectMap). Dots come from GET /api/v1/offers/map for the part of the
 * map in view, at the blurred public point; they are not clustered with the needs (offers are
 * few) and tapping one shows what is offered, until when, a link to ask it for help and a
 * "Báo xấu" (report) link. Words and URLs come from data-* attributes on [data-needs-map].
 */
(function () {
  "use strict";
  var MAX_SPAN = 2;
  var LIMIT = 500;
  var el = document.querySelector("[data-needs-map]");
  if (!el || !el.connectMap || !window.L || !window.fetch) { return; }
  var map = el.connectMap;
  function data(name) { return el.getAttribute("data-" + name) || ""; }
  if (!data("offers-api")) { return; }

  function json(name) {
    try { return JSON.parse(data(name)) || {}; } catch (e) { return {}; }
  }
  var categories = json("categories");
  var kinds = json("offer-kinds");
  var dateFormat = null;
  try {
    dateFormat = new Intl.DateTimeFormat(data("locale") || undefined,
                                         { day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit" });
  } catch (e) { dateFormat = null; }

  var icon = L.divIcon({ className: "dot-icon", html: '<span class="dot dot-offer"></span>',
                         iconSize: [44, 44] });
  var layer = L.layerGroup().addTo(map);

  function text(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    node.textContent = content;
    return node;
  }

  function card(item) {
    var box = document.createElement("div");
    box.className = "dot-card";
    box.appendChild(text("p", "dot-card-status is-offer",
                         data("msg-offer") + (kinds[item.kind] ? " · " + kinds[item.kind] : "")));
    box.appendChild(text("p", "dot-card-kinds", item.title));
    var words = [];
    for (var i = 0; i < item.categories.length; i += 1) {
      words.push(categories[item.categories[i]] || item.categories[i]);
    }
    if (item.quantity) { words.push(item.quantity); }
    box.appendChild(text("p", "", words.join(" · ")));
    var until = Date.parse(item.available_until);
    if (dateFormat && isFinite(until)) {
      box.appendChild(text("p", "dot-card-age",
                           data("msg-offer-until").replace("{when}", dateFormat.format(new Date(until)))));
    }
    var ask = text("a", "button button-block", data("msg-offer-ask"));
    ask.href = data("offer-ask-url").replace("/0/ask", "/" + item.id + "/ask");
    box.appendChild(ask);
    var report = text("a", "", data("msg-offer-report"));
    report.href = data("offer-report-url").replace("/0/report", "/" + item.id + "/report");
    var line = document.createElement("p");
    line.className = "report-link";
    line.appendChild(report);
    box.appendChild(line);
    return box;
  }

  function bbox() {
    var b = map.getBounds();
    var c = map.getCenter();
    var half = MAX_SPAN / 2 - 0.001;
    return [Math.max(b.getWest(), c.lng - half, -180), Math.max(b.getSouth(), c.lat - half, -90),
            Math.min(b.getEast(), c.lng + half, 180), Math.min(b.getNorth(), c.lat + half, 90)]
      .map(function (n) { return n.toFixed(5); }).join(",");
  }

  var shown = {};
  var controller = null;
  function show(items) {
    var keep = {};
    for (var i = 0; i < items.length; i += 1) {
      var item = items[i];
      keep[item.id] = true;
      if (shown[item.id]) { continue; }
      var marker = L.marker([item.location.lat, item.location.lon],
                            { icon: icon, title: data("msg-offer") + ": " + item.title, keyboard: true });
      marker.bindPopup(card.bind(null, item), { minWidth: 200, autoPanPaddingTopLeft: [64, 12] });
      shown[item.id] = marker;
      layer.addLayer(marker);
    }
    for (var id in shown) {
      if (shown.hasOwnProperty(id) && !keep[id]) { layer.removeLayer(shown[id]); delete shown[id]; }
    }
  }

  function load() {
    if (controller && controller.abort) { controller.abort(); }
    controller = window.AbortController ? new AbortController() : null;
    fetch(data("offers-api") + "?bbox=" + encodeURIComponent(bbox()) + "&limit=" + LIMIT,
          { credentials: "same-origin", headers: { Accept: "application/json" },
            signal: controller ? controller.signal : undefined })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (body) { show(body.items || []); })
      .catch(function () { /* the needs map says when loading fails; offers try again on the next move */ });
  }

  var pending = null;
  map.on("moveend", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(load, 300);
  });
  load();
  window.setInterval(function () { if (!document.hidden) { load(); } }, 60000);
}());
