/* offers.js: "Use my location" on the offers-near-you page. The phone's position, rounded to
 * about 100 m (3 decimals) so no home lands in a URL or a log, fills the form's hidden lat/lon
 * and sends it. Without this file (or without location) the list of places works alone.
 */
(function () {
  "use strict";
  var form = document.querySelector("[data-offers-where]");
  if (!form || !navigator.geolocation) { return; }
  var button = form.querySelector("[data-locate]");
  var status = form.querySelector("[data-where-status]");
  var lat = form.querySelector("[data-lat]");
  var lon = form.querySelector("[data-lon]");
  var place = form.querySelector("select[name=place]");
  if (!button || !lat || !lon) { return; }
  button.hidden = false;

  function say(name) {
    if (status) { status.textContent = form.getAttribute("data-msg-" + name) || ""; }
  }

  button.addEventListener("click", function () {
    say("locating");
    navigator.geolocation.getCurrentPosition(function (position) {
      lat.value = position.coords.latitude.toFixed(3);
      lon.value = position.coords.longitude.toFixed(3);
      lat.disabled = false;
      lon.disabled = false;
      if (place) { place.value = ""; place.disabled = true; }  // the place would win
      form.submit();
    }, function () {
      say("denied");
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
  });
}());
