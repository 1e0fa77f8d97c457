// The portal's few lines of script; every page works without them. htmx itself is configured by the
// <meta name="htmx-config"> in templates/portal/layout.html.
(function () {
  "use strict";
  var banner = function () { return document.getElementById("portal-error"); };

  function showError(kind) {
    var el = banner();
    if (!el) return;
    el.textContent = el.dataset[kind] || el.dataset.failed;
    el.hidden = false;
  }

  // A request htmx did not swap (a 4xx/5xx other than 422, or no answer at all) says so instead of doing nothing.
  document.addEventListener("htmx:responseError", function () { showError("failed"); });
  document.addEventListener("htmx:sendError", function () { showError("offline"); });
  document.addEventListener("htmx:beforeRequest", function () {
    var el = banner();
    if (el) el.hidden = true;
  });

  // Content that asks for focus when it arrives (the first row "Show more" appended, a payment's outcome).
  document.addEventListener("htmx:load", function (event) {
    var target = event.detail.elt.matches("[data-autofocus]") ? event.detail.elt
      : event.detail.elt.querySelector("[data-autofocus]");
    if (target) target.focus({ preventScroll: false });
  });
})();
