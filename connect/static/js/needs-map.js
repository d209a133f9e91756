/* needs-map.js: open needs as orange dots and needs helped this week as green dots, clustered
 * when dense (Leaflet + Leaflet.markercluster). Dots come from GET /api/v1/requests/map for
 * the part of the map in view and show the blurred public point only. Tapping a dot shows its
 * kinds, urgency and age, with a button to help (a POST form with the page's CSRF token) or
 * a link to log in, and a "Báo xấu" (report) link. Everything comes from data-* attributes
 * on [data-needs-map]; the page's list link works without this file, and the dots still show
 * when map tiles cannot load.
 */
(function () {
  "use strict";
  var MAX_SPAN = 2;           // degrees each way the API takes
  var LIMIT = 2000;
  var TILE_WAIT_MS = 10000;
  var RETRY_MS = 15000;

  var el = document.querySelector("[data-needs-map]");
  if (!el || !window.L || !window.fetch) { return; }
  var statusEl = document.querySelector("[data-map-status]");
  var fallback = document.querySelector("[data-map-fallback]");

  function data(name) { return el.getAttribute("data-" + name) || ""; }
  function msg(name) { return data("msg-" + name) || (fallback && fallback.getAttribute("data-msg-" + name)) || ""; }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values.hasOwnProperty(key) ? String(values[key]) : all;
    });
  }
  var notes = {};
  function note(key, text) {
    if (text) { notes[key] = text; } else { delete notes[key]; }
    var lines = [];
    for (var k in notes) { if (notes.hasOwnProperty(k)) { lines.push(notes[k]); } }
    if (statusEl) { statusEl.textContent = lines.join(" "); }
  }

  var categories = {};
  try { categories = JSON.parse(data("categories")) || {}; } catch (e) { categories = {}; }
  var locale = data("locale") || undefined;
  var relative = null;
  try { relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto" }); } catch (e) { relative = null; }

  function age(iso) {
    var seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (!relative || !isFinite(seconds)) { return ""; }
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i += 1) {
      if (Math.abs(seconds) >= units[i][1] || units[i][0] === "minute") {
        return relative.format(Math.round(seconds / units[i][1]), units[i][0]);
      }
    }
    return "";
  }

  // -- the map ------------------------------------------------------------------------
  var center = data("center").split(",").map(parseFloat);
  var radius = parseFloat(data("radius"));
  el.hidden = false;
  var map = L.map(el, { minZoom: 9, maxZoom: 18, zoomControl: false }).setView(center, 14);
  el.connectMap = map;  // offers-map.js adds the offers of help to this map
  // Leaflet's own zoom buttons are titled in English; the page gives the words.
  var words = document.documentElement.dataset;
  L.control.zoom({ zoomInTitle: words.zoomIn, zoomOutTitle: words.zoomOut }).addTo(map);
  map.on("popupopen", function (event) {
    var close = event.popup.getElement().querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", words.closePopup); }
  });
  var tiles = L.tileLayer(data("tiles"), { attribution: data("attribution"), maxZoom: 19 });
  var tilesLoaded = 0;
  var tileFailures = 0;
  function tilesFailed() {
    if (tilesLoaded > 0) { return; }
    el.className += " tiles-failed";
    note("tiles", msg("tiles-failed"));
  }
  tiles.on("tileload", function () { tilesLoaded += 1; note("tiles", ""); });
  tiles.on("tileerror", function () { tileFailures += 1; if (tileFailures >= 3) { tilesFailed(); } });
  tiles.addTo(map);
  window.setTimeout(tilesFailed, TILE_WAIT_MS);

  if (isFinite(radius) && radius > 0) {
    var area = L.circle(center, { radius: radius, className: "your-area", interactive: false,
                                  fill: false, weight: 2, dashArray: "6 6" }).addTo(map);
    map.fitBounds(area.getBounds(), { maxZoom: 15 });
  }

  function dotIcon(status, urgent) {
    return L.divIcon({
      className: "dot-icon",
      html: '<span class="dot dot-' + status + (urgent ? " dot-urgent" : "") + '"></span>',
      iconSize: [44, 44]   // a finger-sized target around a small dot
    });
  }
  var icons = { open: dotIcon("open", false), urgent: dotIcon("open", true),
                helped: dotIcon("helped", false) };

  function clusterIcon(cluster) {
    var markers = cluster.getAllChildMarkers();
    var open = 0;
    for (var i = 0; i < markers.length; i += 1) {
      if (markers[i].options.needOpen) { open += 1; }
    }
    var helped = markers.length - open;
    var ring = document.createElement("div");
    ring.className = "cluster " + (open ? "cluster-open" : "cluster-helped");
    var share = Math.round(100 * open / markers.length);
    // Orange for the share still waiting, green for the share helped (CSSOM: CSP-safe).
    ring.style.background = "conic-gradient(#b34700 0 " + share + "%, #1d7a35 " + share +
      "% 100%)";
    var count = document.createElement("span");
    count.className = "cluster-count";
    count.setAttribute("aria-hidden", "true");  // the words below say the number once
    count.textContent = markers.length;
    var words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = " " + fill(msg("cluster"), { open: open, helped: helped });
    ring.appendChild(count);
    ring.appendChild(words);
    var size = markers.length < 10 ? 44 : markers.length < 100 ? 50 : 58;
    return L.divIcon({ html: ring, className: "cluster-icon", iconSize: [size, size] });
  }

  var layer = L.markerClusterGroup ? L.markerClusterGroup({
    maxClusterRadius: 40, showCoverageOnHover: false, disableClusteringAtZoom: 17,
    spiderfyOnMaxZoom: true, chunkedLoading: true, iconCreateFunction: clusterIcon
  }) : L.layerGroup();
  map.addLayer(layer);

  // -- a dot's card ------------------------------------------------------------------------
  function text(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    node.textContent = content;
    return node;
  }

  function card(item) {
    var box = document.createElement("div");
    box.className = "dot-card";
    var open = item.status === "open";
    var head = text("p", "dot-card-status " + (open ? "is-open" : "is-helped"),
                    open ? msg("open") : msg("helped"));
    if (open && item.urgency === "urgent") {
      head.appendChild(document.createTextNode(" · "));
      head.appendChild(text("strong", "", msg("urgent")));
    }
    box.appendChild(head);
    var kinds = [];
    for (var i = 0; i < item.categories.length; i += 1) {
      kinds.push(categories[item.categories[i]] || item.categories[i]);
    }
    box.appendChild(text("p", "dot-card-kinds", kinds.join(", ")));
    if (item.location_precision === "area") {
      // Texted in from a feature phone: the dot is its commune's middle, not a home.
      box.appendChild(text("p", "dot-card-approximate", msg("approximate")));
    }
    var seconds = (Date.now() - Date.parse(item.created_at)) / 1000;
    var when = seconds < 60 ? msg("posted-just-now") : fill(msg("posted"), { age: age(item.created_at) });
    if (when) { box.appendChild(text("p", "dot-card-age", when)); }
    if (!open) { return box; }
    var claimUrl = data("claim-url");
    if (claimUrl) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = claimUrl.replace(/\/0$/, "/" + item.id);
      var token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = data("csrf");
      form.appendChild(token);
      var button = text("button", "button-block", msg("claim"));
      button.type = "submit";
      form.appendChild(button);
      box.appendChild(form);
    } else if (data("login-url")) {
      var link = text("a", "button button-block", msg("login"));
      link.href = data("login-url");
      box.appendChild(link);
    }
    if (data("report-url")) {
      // "Báo xấu": the report page (it sends anonymous users to log in first).
      var report = text("a", "", msg("report"));
      report.href = data("report-url").replace("/0/report", "/" + item.id + "/report");
      var line = document.createElement("p");
      line.className = "report-link";
      line.appendChild(report);
      box.appendChild(line);
    }
    return box;
  }

  // -- loading the dots for the view ---------------------------------------------------------
  var shown = {};       // id -> marker
  var controller = null;
  var pending = null;
  var retry = null;

  function bbox() {
    var b = map.getBounds();
    var c = map.getCenter();
    var half = MAX_SPAN / 2 - 0.001;
    var west = Math.max(b.getWest(), c.lng - half, -180);
    var east = Math.min(b.getEast(), c.lng + half, 180);
    var south = Math.max(b.getSouth(), c.lat - half, -90);
    var north = Math.min(b.getNorth(), c.lat + half, 90);
    return [west, south, east, north].map(function (n) { return n.toFixed(5); }).join(",");
  }

  function show(items) {
    var keep = {};
    var add = [];
    for (var i = 0; i < items.length; i += 1) {
      var item = items[i];
      var key = item.id + ":" + item.status;
      keep[key] = true;
      if (shown[key]) { continue; }
      var open = item.status === "open";
      var marker = L.marker([item.location.lat, item.location.lon], {
        icon: open ? (item.urgency === "urgent" ? icons.urgent : icons.open) : icons.helped,
        title: open ? msg("open") : msg("helped"), keyboard: true, needOpen: open
      });
      // Keep the card clear of the 44 px zoom buttons in the corner.
      marker.bindPopup(card.bind(null, item), { minWidth: 200, autoPanPaddingTopLeft: [64, 12] });
      shown[key] = marker;
      add.push(marker);
    }
    var remove = [];
    for (var k in shown) {
      if (shown.hasOwnProperty(k) && !keep[k]) { remove.push(shown[k]); delete shown[k]; }
    }
    if (remove.length) { layer.removeLayers ? layer.removeLayers(remove) : remove.forEach(function (m) { layer.removeLayer(m); }); }
    if (add.length) { layer.addLayers ? layer.addLayers(add) : add.forEach(function (m) { layer.addLayer(m); }); }
    note("count", items.length >= LIMIT ? fill(msg("too-many"), { count: LIMIT }) : "");
  }

  var loadedBbox = null;
  function load(force) {
    // Fitting the map to your area ends in a moveend too: do not ask twice for one view.
    if (!force && bbox() === loadedBbox) { return; }
    loadedBbox = bbox();
    window.clearTimeout(retry);
    if (controller && controller.abort) { controller.abort(); }
    controller = window.AbortController ? new AbortController() : null;
    var url = data("api") + "?bbox=" + encodeURIComponent(bbox()) + "&limit=" + LIMIT;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" },
                 signal: controller ? controller.signal : undefined })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (body) { note("load", ""); show(body.items || []); })
      .catch(function (error) {
        if (error && error.name === "AbortError") { return; }
        note("load", msg("failed"));
        loadedBbox = null;
        retry = window.setTimeout(load, RETRY_MS);
      });
  }

  map.on("moveend", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(load, 300);   // one request after a pan or pinch settles
  });
  load();
  // Needs get taken and helped while the map is open: look again now and then.
  window.setInterval(function () { if (!document.hidden) { load(true); } }, 60000);
}());
