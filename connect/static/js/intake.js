/* intake.js: the hotline intake form. Keeps the typed point ("lat, lon") and the map pin of
 * location-picker.js in step: a point typed into [data-typed-point] moves the pin (through
 * the picker's place <select id="place">, which has no name and is never sent), and a pin
 * moved on the map writes its point into the text field. Without JavaScript the typed point
 * is sent as it is and the server reads it.
 */
(function () {
  "use strict";
  var TYPED = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$/;
  var WAIT_MS = 600;  // typing pauses this long before the pin moves

  var input = document.querySelector("[data-typed-point]");
  var select = document.getElementById("place");
  var picker = document.querySelector("[data-location-picker]");
  if (!input || !select || !picker) { return; }
  var option = select.options[0];
  var timer = null;

  function parse(text) {
    var match = TYPED.exec(text || "");
    if (!match) { return null; }
    var lat = parseFloat(match[1]);
    var lon = parseFloat(match[2]);
    if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) { return null; }
    return [lat, lon];
  }

  function movePin() {
    var point = parse(input.value);
    if (!point) { return; }
    option.value = "typed";
    option.setAttribute("data-lat", String(point[0]));
    option.setAttribute("data-lon", String(point[1]));
    select.value = "typed";
    select.dispatchEvent(new Event("change"));
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(movePin, WAIT_MS);
  });
  input.addEventListener("change", function () {
    window.clearTimeout(timer);
    movePin();
  });
  picker.addEventListener("location-picker:change", function (e) {
    if (e.detail.source === "place") { return; }  // the operator's own typing: leave it
    input.value = e.detail.lat.toFixed(6) + ", " + e.detail.lon.toFixed(6);
  });
}());
