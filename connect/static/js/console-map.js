/* console-map.js: the coordinator console's map. Asks GET /api/v1/console/map for the view
 * and the filters in the page's form (the server groups requests into clusters unless few
 * are in view), and draws requests by status colour, a heat layer of unmet need weighted by
 * waiting (Leaflet.heat) and the volunteers on duty. A point opens the side panel; a cluster
 * zooms in. Filters stay in the page's URL, as the form (a plain GET form) would put them.
 * Everything the script needs comes from data-* attributes on [data-console-map].
 */
(function () {
  "use strict";
  var DEBOUNCE_MS = 250;
  var RETRY_MS = 15000;
  var REFRESH_MS = 60000;
  var TILE_WAIT_MS = 10000;
  var DESKTOP = "(min-width: 1024px)";
  var MAX_SPAN = 6;  // degrees each way the endpoint takes

  var el = document.querySelector("[data-console-map]");
  if (!el || !window.L || !window.fetch) { return; }
  var form = document.querySelector("[data-cmap-form]");
  var side = document.querySelector("[data-cmap-filters]");
  var countEl = document.querySelector("[data-cmap-count]");
  var noteEl = document.querySelector("[data-cmap-note]");
  var panel = document.querySelector("[data-cmap-panel]");
  var legendHeat = document.querySelector("[data-legend=heat]");

  function data(name) { return el.getAttribute("data-" + name) || ""; }
  function msg(name) { return data("msg-" + name); }
  function json(name) {
    try { return JSON.parse(data(name)) || {}; } catch (e) { return {}; }
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }
  function box(text) {
    var parts = (text || "").split(",").map(parseFloat);
    if (parts.length !== 4 || parts.some(function (n) { return !isFinite(n); })) { return null; }
    return L.latLngBounds([parts[1], parts[0]], [parts[3], parts[2]]);
  }
  var statuses = json("statuses");
  var categories = json("categories");
  var countWords = json("msg-count");
  var actors = json("actors");
  var relative = null;
  try {
    relative = new Intl.RelativeTimeFormat(data("locale") || undefined, { numeric: "auto" });
  } catch (e) { relative = null; }

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

  // -- the side of filters: open beside the map on a desktop, folded above it on a tablet --
  var desktop = window.matchMedia ? window.matchMedia(DESKTOP) : { matches: true };
  var legend = document.querySelector("[data-cmap-legend]");
  if (!desktop.matches) {  // a tablet's screen is the map's: the filters and legend fold
    if (side) { side.open = false; }
    if (legend) { legend.open = false; }
  }
  if (side) {
    side.querySelector("summary").addEventListener("click", function (event) {
      if (desktop.matches) { event.preventDefault(); }  // beside the map it stays open
    });
  }
  var layerBox = document.querySelector("[data-cmap-layers]");
  if (layerBox) { layerBox.hidden = false; }

  // -- the map -----------------------------------------------------------------------------
  el.hidden = false;
  var words = document.documentElement.dataset;
  var map = L.map(el, { zoomControl: false, minZoom: 6, maxZoom: 18 });
  L.control.zoom({ zoomInTitle: words.zoomIn, zoomOutTitle: words.zoomOut }).addTo(map);
  L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
  map.createPane("volunteers").style.zIndex = 590;  // under the requests (600)

  var tiles = L.tileLayer(data("tiles"), { attribution: data("attribution"), maxZoom: 19 });
  var tilesLoaded = 0;
  var tileFailures = 0;
  function tilesFailed() {
    if (tilesLoaded > 0) { return; }
    el.classList.add("tiles-failed");
    note("tiles", msg("tiles-failed"));
  }
  tiles.on("tileload", function () { tilesLoaded += 1; note("tiles", ""); });
  tiles.on("tileerror", function () { tileFailures += 1; if (tileFailures >= 3) { tilesFailed(); } });
  tiles.addTo(map);
  window.setTimeout(tilesFailed, TILE_WAIT_MS);

  var notes = {};
  function note(key, text) {
    if (text) { notes[key] = text; } else { delete notes[key]; }
    var lines = [];
    for (var k in notes) { if (Object.prototype.hasOwnProperty.call(notes, k)) { lines.push(notes[k]); } }
    if (noteEl) { noteEl.textContent = lines.join(" "); }
  }

  function chosenAreaBounds() {
    var select = form && form.querySelector("[data-cmap-area]");
    var option = select && select.options[select.selectedIndex];
    return option ? box(option.getAttribute("data-bounds")) : null;
  }
  var start = chosenAreaBounds() || box(data("bounds"));
  if (start) {
    map.fitBounds(start, { padding: [16, 16] });
  } else {
    map.setView(data("center").split(",").map(parseFloat), 12);
  }

  var requests = L.layerGroup().addTo(map);
  var points = L.markerClusterGroup ? L.markerClusterGroup({
    maxClusterRadius: 28, disableClusteringAtZoom: 16, showCoverageOnHover: false,
    spiderfyOnMaxZoom: true, chunkedLoading: true, iconCreateFunction: pointGroupIcon
  }) : L.layerGroup();
  requests.addLayer(points);
  var volunteers = L.layerGroup().addTo(map);
  var heat = null;
  var heatPoints = [];
  var HEAT_OPTIONS = {
    radius: 40, blur: 30, max: 1, minOpacity: 0.3,
    maxZoom: 0,  // the server already weighs each cell: no fading by zoom level
    gradient: { 0.15: "#fde68a", 0.4: "#fb923c", 0.7: "#e0452b", 1: "#8b1a1a" }
  };

  // -- drawing -----------------------------------------------------------------------------
  function colourOf(status) {
    return ({ open: "#d9700b", claimed: "#1f6fd1", helped: "#2e9d4f", confirmed: "#1d7a35",
              hidden: "#6b7280", cancelled: "#b8bec6", expired: "#b8bec6" })[status] || "#9ca3af";
  }

  var pointIcons = {};
  function pointIcon(status, urgent) {
    var key = status + (urgent ? ":u" : "");
    if (!pointIcons[key]) {
      pointIcons[key] = L.divIcon({
        className: "cmap-point-icon",
        html: '<span class="cmap-point status-' + status + (urgent ? " is-urgent" : "") + '"></span>',
        iconSize: [28, 28]
      });
    }
    return pointIcons[key];
  }

  function clusterIcon(cluster) {
    var total = cluster.count || 0;
    var ring = document.createElement("div");
    ring.className = "cmap-cluster" + (cluster.urgent ? " has-urgent" : "");
    var size = Math.round(Math.min(72, 26 + 15 * Math.log10(Math.max(total, 1))));
    ring.style.width = ring.style.height = size + "px";
    // Each status's share of the ring in its colour (CSSOM, which the CSP allows).
    var stops = [];
    var at = 0;
    var by = cluster.by_status || {};
    Object.keys(statuses).forEach(function (status) {
      if (!by[status]) { return; }
      var to = at + 100 * by[status] / total;
      stops.push(colourOf(status) + " " + at.toFixed(2) + "% " + to.toFixed(2) + "%");
      at = to;
    });
    ring.style.background = stops.length ? "conic-gradient(" + stops.join(", ") + ")" : colourOf("");
    var count = document.createElement("span");
    count.className = "cmap-cluster-count";
    count.setAttribute("data-count", String(total));
    count.textContent = total >= 10000 ? Math.round(total / 1000) + "k" : String(total);
    count.setAttribute("aria-hidden", "true");  // the words below say it once
    ring.appendChild(count);
    var words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = fill(msg("cluster"), { count: total, urgent: cluster.urgent || 0 });
    ring.appendChild(words);
    if (cluster.urgent) {
      var badge = document.createElement("span");
      badge.className = "cmap-cluster-urgent";
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = cluster.urgent > 99 ? "99+" : String(cluster.urgent);
      ring.appendChild(badge);
    }
    return L.divIcon({ html: ring, className: "cmap-cluster-icon", iconSize: [size, size] });
  }

  // Few requests come as points; where they crowd at this zoom, they are grouped here too,
  // drawn like the server's clusters (from the points' own statuses).
  function pointGroupIcon(group) {
    var markers = group.getAllChildMarkers();
    var summary = { count: markers.length, by_status: {}, urgent: 0 };
    markers.forEach(function (marker) {
      var status = marker.options.status;
      summary.by_status[status] = (summary.by_status[status] || 0) + 1;
      if (marker.options.urgent) { summary.urgent += 1; }
    });
    return clusterIcon(summary);
  }

  function volunteerIcon(cell) {
    var node = document.createElement("div");
    node.className = "cmap-volunteer" + (cell.free > 0 ? "" : " is-full");
    var count = document.createElement("span");
    count.className = "cmap-volunteer-count";
    count.textContent = String(cell.count);
    var free = document.createElement("span");
    free.className = "cmap-volunteer-free";
    free.textContent = fill(msg("free"), { free: cell.free });
    node.appendChild(count);
    node.appendChild(free);
    // Drawn beside its place, below-right, so a cluster there does not cover it.
    return L.divIcon({ html: node, className: "cmap-volunteer-icon", iconSize: null,
                       iconAnchor: [-8, -10] });
  }

  var selected = null;  // {id, marker}
  function drawRequests(body) {
    requests.eachLayer(function (layer) { if (layer !== points) { requests.removeLayer(layer); } });
    points.clearLayers();
    var add = [];
    (body.clusters || []).forEach(function (cluster) {
      var title = fill(msg("cluster"), { count: cluster.count, urgent: cluster.urgent || 0 });
      var marker = L.marker([cluster.lat, cluster.lon], {
        icon: clusterIcon(cluster), title: title, keyboard: true, riseOnHover: true
      });
      marker.on("click", function () {
        map.setView([cluster.lat, cluster.lon], Math.min(map.getZoom() + 2, map.getMaxZoom()));
      });
      requests.addLayer(marker);
    });
    (body.points || []).forEach(function (point) {
      var urgent = point.urgency === "urgent";
      var title = (statuses[point.status] || point.status) + (urgent ? " · " + msg("urgent") : "") +
        " · " + kinds(point.categories);
      var marker = L.marker([point.lat, point.lon], {
        icon: pointIcon(point.status, urgent), title: title, keyboard: true,
        riseOnHover: true, zIndexOffset: urgent ? 500 : 0, status: point.status, urgent: urgent
      });
      marker.on("click", function () { openPanel(point, marker); });
      marker.on("add", function () {
        if (selected && selected.id === point.id) { mark(marker); }
      });
      add.push(marker);
    });
    if (points.addLayers) { points.addLayers(add); } else { add.forEach(function (m) { points.addLayer(m); }); }
  }

  function drawVolunteers(body) {
    volunteers.clearLayers();
    (body.volunteers || []).forEach(function (cell) {
      var title = fill(msg("volunteers"), { count: cell.count, free: cell.free });
      volunteers.addLayer(L.marker([cell.lat, cell.lon], {
        icon: volunteerIcon(cell), title: title, pane: "volunteers", keyboard: false
      }));
    });
  }

  function drawHeat(body) {
    var top = body.heat_max > 0 ? body.heat_max : 1;
    heatPoints = (body.heat || []).map(function (cell) { return [cell[0], cell[1], cell[2] / top]; });
    if (heat) { heat.setLatLngs(heatPoints); }
  }

  function showCount(body) {
    var n = body.total || 0;
    var words = n === 1 ? countWords.one : countWords.other;
    countEl.textContent = fill(words || "{n}", { n: n.toLocaleString(data("locale") || undefined) });
    countEl.setAttribute("data-total", String(n));
    el.setAttribute("data-mode", (body.points || []).length || !(body.clusters || []).length
      ? "points" : "clusters");
    note("mode", (body.clusters || []).length ? msg("clusters") : "");
  }

  // -- the side panel ----------------------------------------------------------------------
  function part(name) { return panel.querySelector("[data-panel=" + name + "]"); }
  function kinds(list) {
    return (list || []).map(function (name) { return categories[name] || name; }).join(", ");
  }
  function mark(marker) {
    if (selected && selected.marker && selected.marker.getElement()) {
      selected.marker.getElement().classList.remove("is-selected");
    }
    if (marker.getElement()) { marker.getElement().classList.add("is-selected"); }
    if (selected) { selected.marker = marker; }
  }

  function getJson(url, signal) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" },
                        signal: signal })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      });
  }

  function historyItem(event) {
    var item = document.createElement("li");
    var when = document.createElement("time");
    when.dateTime = event.created_at;
    when.textContent = age(event.created_at);
    var what = document.createElement("span");
    what.className = "cmap-history-what";
    what.textContent = event.from_status
      ? (statuses[event.from_status] || event.from_status) + " \u2192 " +
        (statuses[event.to_status] || event.to_status)
      : msg("posted-event");
    item.appendChild(what);
    var who = event.actor_name || actors[event.actor_kind] || event.actor_kind;
    // The system's own reasons ("posted", "claimed") only repeat the status change.
    var reason = event.reason && event.reason !== event.to_status && event.reason !== "posted"
      ? event.reason : "";
    var rest = (who ? " " + fill(msg("by"), { who: who }) : "") + (reason ? ": " + reason : "");
    item.appendChild(document.createTextNode(rest));
    item.appendChild(document.createElement("br"));
    item.appendChild(when);
    return item;
  }

  function showHistory(events) {
    var list = part("history");
    list.textContent = "";
    events.slice().reverse().forEach(function (event) { list.appendChild(historyItem(event)); });
  }

  var detail = null;
  function openPanel(point, marker) {
    selected = { id: point.id, marker: null };
    mark(marker);
    part("title").textContent = fill(msg("request"), { id: point.id });
    var status = part("status");
    status.textContent = statuses[point.status] || point.status;
    status.className = "cmap-pill status-" + point.status;
    part("urgent").hidden = point.urgency !== "urgent";
    part("categories").textContent = kinds(point.categories);
    part("urgency").textContent = point.urgency === "urgent" ? msg("urgent") : msg("not-urgent");
    part("age").textContent = fill(msg("waiting"), { age: age(point.created_at) });
    part("household").textContent = point.household_size
      ? fill(msg("household"), { n: point.household_size }) : "–";
    part("description").textContent = point.description || msg("no-description");
    var open = part("open");
    open.href = data("request-url").replace(/\/0$/, "/" + point.id);
    panel.hidden = false;
    el.classList.add("has-panel");
    panel.focus({ preventScroll: true });
    // Keep the point in sight beside the panel.
    map.panInside(marker.getLatLng(), { paddingBottomRight: [panel.offsetWidth + 30, 20],
                                        paddingTopLeft: [60, 20] });
    part("history").textContent = "";
    if (detail && detail.abort) { detail.abort(); }
    detail = window.AbortController ? new AbortController() : null;
    var signal = detail ? detail.signal : undefined;
    function current() { return selected && selected.id === point.id; }
    getJson(data("events-api").replace(/\/0\/events$/, "/" + point.id + "/events"), signal)
      .then(function (body) { if (current()) { showHistory(body.items || []); } })
      .catch(function (error) {
        if (error && error.name === "AbortError") { return; }
        if (current()) { part("history").textContent = msg("history-failed"); }
      });
  }

  function closePanel() {
    if (selected && selected.marker && selected.marker.getElement()) {
      selected.marker.getElement().classList.remove("is-selected");
    }
    selected = null;
    panel.hidden = true;
    el.classList.remove("has-panel");
  }
  part("close").addEventListener("click", closePanel);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) { closePanel(); }
  });

  // -- the filters -------------------------------------------------------------------------
  function filters() {
    var values = {};
    if (!form) { return values; }
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.disabled) { return; }
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) { return; }
      if (input.value === "") { return; }
      (values[input.name] = values[input.name] || []).push(input.value);
    });
    return values;
  }

  function bbox() {
    // Zoomed far out, only the middle of the view is asked for (the endpoint's limit).
    var b = map.getBounds();
    var c = map.getCenter();
    var half = MAX_SPAN / 2 - 0.001;
    var edges = [Math.max(b.getWest(), c.lng - half, -180), Math.max(b.getSouth(), c.lat - half, -90),
                 Math.min(b.getEast(), c.lng + half, 180), Math.min(b.getNorth(), c.lat + half, 90)];
    var clipped = edges[0] > b.getWest() || edges[1] > b.getSouth() ||
      edges[2] < b.getEast() || edges[3] < b.getNorth();
    note("zoom", clipped ? msg("zoom-in") : "");
    return edges.map(function (n) { return n.toFixed(5); }).join(",");
  }

  function apiUrl() {
    var query = ["bbox=" + encodeURIComponent(bbox()), "zoom=" + Math.round(map.getZoom())];
    var values = filters();
    Object.keys(values).forEach(function (name) {
      query.push(encodeURIComponent(name) + "=" + encodeURIComponent(values[name].join(",")));
    });
    return data("api") + "?" + query.join("&");
  }

  function keepInUrl() {
    // The address shows the filters as the form sends them, so it can be shared or reloaded.
    var values = filters();
    var query = [];
    Object.keys(values).forEach(function (name) {
      values[name].forEach(function (value) {
        query.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
      });
    });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", form.getAttribute("action") +
        (query.length ? "?" + query.join("&") : ""));
    }
  }

  // -- loading -----------------------------------------------------------------------------
  var controller = null;
  var pending = null;
  var retry = null;
  var loaded = null;

  function load(force) {
    var url = apiUrl();
    if (!force && url === loaded) { el.setAttribute("aria-busy", "false"); return; }
    loaded = url;
    window.clearTimeout(retry);
    if (controller && controller.abort) { controller.abort(); }
    controller = window.AbortController ? new AbortController() : null;
    el.classList.add("is-loading");
    el.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" },
                 signal: controller ? controller.signal : undefined })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (body) {
        note("load", "");
        drawRequests(body);
        drawVolunteers(body);
        drawHeat(body);
        showCount(body);
        el.classList.remove("is-loading");
        el.setAttribute("aria-busy", "false");
        el.setAttribute("data-loaded", url);
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") { return; }
        el.classList.remove("is-loading");
        el.setAttribute("aria-busy", "false");
        note("load", msg("failed"));
        loaded = null;
        retry = window.setTimeout(function () { load(true); }, RETRY_MS);
      });
  }

  function soon() {
    el.setAttribute("aria-busy", "true");  // a new answer is coming: tests and readers wait
    window.clearTimeout(pending);
    pending = window.setTimeout(load, DEBOUNCE_MS);
  }

  map.on("moveend zoomend", soon);
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target.hasAttribute("data-layer")) { return; }
      keepInUrl();
      if (event.target.hasAttribute("data-cmap-area")) {
        var area = chosenAreaBounds() || box(data("bounds"));
        if (area) { map.fitBounds(area, { padding: [16, 16] }); }
      }
      soon();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();  // the script already follows the form; no page load needed
      keepInUrl();
      load(true);
    });
  }

  // -- layers ------------------------------------------------------------------------------
  function toggle(name, on) {
    if (name === "requests") {
      if (on) { map.addLayer(requests); } else { map.removeLayer(requests); }
    } else if (name === "volunteers") {
      if (on) { map.addLayer(volunteers); } else { map.removeLayer(volunteers); }
    } else if (name === "heat" && L.heatLayer) {
      // A new layer each time: Leaflet.heat cannot take new points while off the map.
      if (on && !heat) {
        heat = L.heatLayer(heatPoints, HEAT_OPTIONS).addTo(map);
      } else if (!on && heat) {
        map.removeLayer(heat);
        heat = null;
      }
      if (legendHeat) { legendHeat.hidden = !on; }
    }
    el.setAttribute("data-layer-" + name, on ? "on" : "off");
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-layer]"), function (input) {
    toggle(input.getAttribute("data-layer"), input.checked);
    input.addEventListener("change", function () {
      toggle(input.getAttribute("data-layer"), input.checked);
    });
  });

  load();
  // Requests get claimed and helped while the map is open: look again now and then.
  window.setInterval(function () { if (!document.hidden) { load(true); } }, REFRESH_MS);
}());
