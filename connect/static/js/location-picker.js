/* location-picker.js: "use my location", a map pin and a list of places, all writing the same
 * two hidden inputs (lat, lon). Reusable on any form: everything comes from data-* attributes.
 *
 *   <div data-location-picker
 *        data-lat-input="#lat" data-lon-input="#lon"  CSS selectors of the inputs it writes (required)
 *        data-place-select="#place"     optional <select>; its options carry data-lat / data-lon
 *        data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"   tile URL (no map without it)
 *        data-attribution="&copy; OpenStreetMap contributors"          tile credit (HTML)
 *        data-center="21.2731,106.1946" where the map opens when no point is set yet
 *        data-zoom="12"                 zoom with no point yet (optional, default 12)
 *        data-point-zoom="16"           zoom once there is a point (optional, default 16)
 *        data-pin-label="Your home"     accessible name of the pin
 *        data-msg-locating  data-msg-found  data-msg-found-rough  data-msg-denied
 *        data-msg-unavailable  data-msg-moved  data-msg-place  data-msg-tiles-failed
 *                                       the (translated) messages it shows, see `say` below
 *   >
 *     <button type="button" data-locate hidden>Use my location</button>  shown if it can work
 *     <p data-location-status role="status"></p>                         messages go here
 *     <p data-map-hint hidden>Tap the map…</p>                            shown with the map
 *     <div class="map" data-map hidden></div>                             the map (give it a height)
 *   </div>
 *
 * Needs Leaflet (window.L) loaded first for the map; without it (or without JavaScript) the
 * list of places still works. The inputs are written only when the person acts (the button,
 * a tap, a drag, arrow keys on the focused pin, a place from the list); values already in
 * them (an edit form, a form shown again after an error) place the pin at the start.
 * Choosing a place moves the pin there; moving the pin afterwards clears the place choice,
 * because the server takes a chosen place over the pin.
 * After each change the container gets a "location-picker:change" event (bubbles) with
 * detail {lat, lon, source}, source one of "gps", "map", "keyboard", "place".
 * Styling hooks: the status element gets data-tone="problem" (refused, unavailable, no tiles)
 * or "info"; the container gets the class "tiles-failed" when no map tile could load.
 */
(function () {
  "use strict";
  var ROUGH_M = 500;          // a fix less precise than this asks the person to drag the pin
  var TILE_WAIT_MS = 10000;   // no tile by then: say the map could not load
  var NUDGE_PX = 10;          // arrow keys move the pin this far on screen
  var PROBLEMS = ["denied", "unavailable", "tiles-failed"];

  function number(value) {
    var n = parseFloat(value);
    return isFinite(n) ? n : null;
  }

  function setUp(root) {
    var latInput = document.querySelector(root.getAttribute("data-lat-input"));
    var lonInput = document.querySelector(root.getAttribute("data-lon-input"));
    if (!latInput || !lonInput) { return; }
    var selectQuery = root.getAttribute("data-place-select");
    var select = selectQuery ? document.querySelector(selectQuery) : null;
    var status = root.querySelector("[data-location-status]");
    var locate = root.querySelector("[data-locate]");
    var mapEl = root.querySelector("[data-map]");
    var hint = root.querySelector("[data-map-hint]");
    var zoom = number(root.getAttribute("data-zoom")) || 12;
    var pointZoom = number(root.getAttribute("data-point-zoom")) || 16;
    var label = root.getAttribute("data-pin-label") || "";
    var map = null;
    var marker = null;

    function say(name) {
      if (!status) { return; }
      status.textContent = root.getAttribute("data-msg-" + name) || "";
      // Problems are shown in the error colour (CSS: [data-tone="problem"]).
      status.setAttribute("data-tone", PROBLEMS.indexOf(name) >= 0 ? "problem" : "info");
    }

    function write(lat, lon, source) {
      latInput.value = lat.toFixed(6);
      lonInput.value = lon.toFixed(6);
      if (select && source !== "place") { select.value = ""; }
      var event;
      try {
        event = new CustomEvent("location-picker:change",
          { bubbles: true, detail: { lat: lat, lon: lon, source: source } });
      } catch (e) {
        return;  // very old browsers: the inputs are written, which is what matters
      }
      root.dispatchEvent(event);
    }

    function nudge(e) {
      var keys = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
      var step = keys[e.key];
      if (!step) { return; }
      e.preventDefault();
      e.stopPropagation();  // the map would pan instead
      var at = map.latLngToContainerPoint(marker.getLatLng())
        .add([step[0] * NUDGE_PX, step[1] * NUDGE_PX]);
      var moved = map.containerPointToLatLng(at);
      marker.setLatLng(moved);
      write(moved.lat, moved.lng, "keyboard");
    }

    function pin(lat, lon) {
      if (!map) { return; }
      if (!marker) {
        marker = L.marker([lat, lon], { draggable: true, keyboard: true, title: label,
                                        alt: label, autoPan: true }).addTo(map);
        marker.on("dragend", function () {
          var at = marker.getLatLng();
          write(at.lat, at.lng, "map");
          say("moved");
        });
        var icon = marker.getElement();
        if (icon) { icon.addEventListener("keydown", nudge); }
      } else {
        marker.setLatLng([lat, lon]);
      }
    }

    function choose(lat, lon, source, viewZoom) {
      pin(lat, lon);
      if (map) { map.setView([lat, lon], Math.max(map.getZoom(), viewZoom)); }
      write(lat, lon, source);
    }

    // -- the map --------------------------------------------------------------------
    var tiles = root.getAttribute("data-tiles");
    if (window.L && mapEl && tiles) {
      try {
        mapEl.hidden = false;
        if (hint) { hint.hidden = false; }
        var start = [number(latInput.value), number(lonInput.value)];
        var hasStart = start[0] !== null && start[1] !== null;
        if (!hasStart && select && select.value) {
          var option = select.options[select.selectedIndex];
          start = [number(option.getAttribute("data-lat")), number(option.getAttribute("data-lon"))];
          hasStart = start[0] !== null && start[1] !== null;
        }
        var center = (root.getAttribute("data-center") || "").split(",").map(number);
        map = L.map(mapEl, { scrollWheelZoom: false, zoomControl: false })
          .setView(hasStart ? start : center, hasStart ? pointZoom : zoom);
        // Leaflet's own zoom buttons are titled in English; the page gives the words.
        var words = document.documentElement.dataset;
        L.control.zoom({ zoomInTitle: words.zoomIn, zoomOutTitle: words.zoomOut }).addTo(map);
        map.attributionControl.setPrefix(false);  // room for the tile credit on a small screen
        var loaded = 0;
        var warned = false;
        var warn = function () {
          if (warned || loaded > 0) { return; }
          warned = true;
          root.className += " tiles-failed";
          say("tiles-failed");
        };
        var layer = L.tileLayer(tiles, { attribution: root.getAttribute("data-attribution") || "",
                                         maxZoom: 19 });
        var failures = 0;
        layer.on("tileload", function () { loaded += 1; });
        layer.on("tileerror", function () { failures += 1; if (failures >= 3) { warn(); } });
        layer.addTo(map);
        window.setTimeout(warn, TILE_WAIT_MS);
        if (hasStart) { pin(start[0], start[1]); }
        map.on("click", function (e) {
          pin(e.latlng.lat, e.latlng.lng);
          write(e.latlng.lat, e.latlng.lng, "map");
          say("moved");
        });
      } catch (e) {
        // A map that cannot start must not take the form with it: the list still works.
        mapEl.hidden = true;
        if (hint) { hint.hidden = true; }
        map = null;
      }
    }

    // -- "use my location" ------------------------------------------------------------
    // Browsers only answer on secure pages (https, localhost): elsewhere the button stays hidden.
    if (locate && navigator.geolocation && window.isSecureContext !== false) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        say("locating");
        locate.disabled = true;
        navigator.geolocation.getCurrentPosition(function (position) {
          locate.disabled = false;
          var c = position.coords;
          choose(c.latitude, c.longitude, "gps", pointZoom);
          say(c.accuracy > ROUGH_M ? "found-rough" : "found");
        }, function (error) {
          locate.disabled = false;
          say(error.code === 1 ? "denied" : "unavailable");
          if (mapEl && !mapEl.hidden && mapEl.scrollIntoView) {
            mapEl.scrollIntoView({ block: "center", behavior: "smooth" });
          }
        }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      });
    }

    // -- the list of places -------------------------------------------------------------
    if (select) {
      select.addEventListener("change", function () {
        var option = select.options[select.selectedIndex];
        var lat = number(option && option.getAttribute("data-lat"));
        var lon = number(option && option.getAttribute("data-lon"));
        if (lat === null || lon === null) { return; }
        choose(lat, lon, "place", 14);
        say("place");
      });
    }
  }

  var roots = document.querySelectorAll("[data-location-picker]");
  for (var i = 0; i < roots.length; i += 1) { setUp(roots[i]); }
}());
