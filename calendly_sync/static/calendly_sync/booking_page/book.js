/* The booking page's only script (calendly_sync/booking_page). Without it the page still works:
 * times are shown in UTC until the visitor picks a time zone, and the form posts as usual.
 *  1. On a first visit (no ?tz=), reload once with the browser's time zone in ?tz=.
 *  2. Disable the submit button once the form is sent, so a double click books once.
 */
(function () {
  "use strict";
  if (document.body.hasAttribute("data-detect-tz")) {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      zone = "";
    }
    var params = new URLSearchParams(window.location.search);
    if (zone && !params.has("tz")) {
      params.set("tz", zone);
      window.location.replace(window.location.pathname + "?" + params.toString());
      return;
    }
  }
  var form = document.getElementById("booking-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        window.setTimeout(function () {
          button.disabled = true;
          button.textContent = "Booking…";
        }, 0);
      }
    });
  }
})();
