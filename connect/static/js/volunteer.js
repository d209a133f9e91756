/* volunteer.js: small helps on the volunteer pages; every page works without this file.
 *
 * Forms marked data-busy-form send once: a second tap while a slow connection is still
 * sending does nothing, and the button marked data-busy-label says what is happening.
 * Coming back to the page (the back button) makes the buttons ready again.
 */
(function () {
  "use strict";

  function ready(form) {
    form.removeAttribute("data-busy");
    var button = form.querySelector("[data-busy-label]");
    if (button && button.hasAttribute("data-idle-label")) {
      button.textContent = button.getAttribute("data-idle-label");
      button.removeAttribute("aria-disabled");
    }
  }

  function busy(form) {
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-busy")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-busy", "");
      var button = form.querySelector("[data-busy-label]");
      if (button) {
        button.setAttribute("data-idle-label", button.textContent);
        button.textContent = button.getAttribute("data-busy-label");
        button.setAttribute("aria-disabled", "true");
      }
    });
  }

  var forms = document.querySelectorAll("form[data-busy-form]");
  for (var i = 0; i < forms.length; i += 1) { busy(forms[i]); }
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    for (var j = 0; j < forms.length; j += 1) { ready(forms[j]); }
  });
}());
