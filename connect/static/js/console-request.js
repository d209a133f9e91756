/* console-request.js: the small map on a request's console page: its exact point (private,
 * a solid marker) and the public point others see (a hollow circle). Points and words come
 * from data-* attributes on [data-request-map]; without this file the page shows both as
 * numbers. On a request placed by its commune, a click puts the point for "place exactly".
 */
(function () {
  "use strict";
  var el = document.querySelector("[data-request-map]");
  if (!el || !window.L) { return; }

  function point(name) {
    var parts = (el.getAttribute("data-" + name) || "").split(",").map(parseFloat);
    return parts.length === 2 && isFinite(parts[0]) && isFinite(parts[1]) ? parts : null;
  }
  var exact = point("exact");
  var shown = point("public");
  if (!exact) { return; }

  el.hidden = false;
  var map = L.map(el, { scrollWheelZoom: false });
  L.tileLayer(el.getAttribute("data-tiles"), {
    attribution: el.getAttribute("data-attribution"), maxZoom: 19
  }).addTo(map);
  L.circleMarker(exact, { radius: 8, color: "#7f1d1d", fillColor: "#dc2626", fillOpacity: 0.9 })
    .bindTooltip(el.getAttribute("data-msg-exact") || "").addTo(map);
  if (shown) {
    L.circleMarker(shown, { radius: 8, color: "#57606a", dashArray: "4 3", fill: false })
      .bindTooltip(el.getAttribute("data-msg-public") || "").addTo(map);
    map.fitBounds(L.latLngBounds([exact, shown]).pad(0.6), { maxZoom: 17 });
  } else {
    map.setView(exact, 16);
  }

  // "Place exactly" (a request texted in): a click on the map fills the point to send.
  var input = document.querySelector("[data-place-point]");
  if (!input) { return; }
  var pin = null;
  map.on("click", function (event) {
    input.value = event.latlng.lat.toFixed(6) + ", " + event.latlng.lng.toFixed(6);
    if (pin) { pin.setLatLng(event.latlng); return; }
    pin = L.circleMarker(event.latlng, { radius: 9, color: "#14532d", fillColor: "#16a34a",
                                         fillOpacity: 0.9 }).addTo(map);
  });
}());
