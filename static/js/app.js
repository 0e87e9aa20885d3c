// Progressive enhancements only: every page works without this file.
(function () {
  "use strict";
  // Ask before destructive POSTs (forms marked data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
  // Submit filter selects marked data-autosubmit as soon as they change.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });
  // The council picker in the user form only matters for clerks.
  var role = document.querySelector("[data-toggle-council]");
  var council = document.getElementById("council_id");
  if (role && council) {
    var wrap = council.closest(".mb-3");
    var sync = function () { if (wrap) { wrap.hidden = role.value !== "clerk"; } };
    role.addEventListener("change", sync);
    sync();
  }
})();
