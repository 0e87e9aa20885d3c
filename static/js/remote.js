// Health pages, progressive only: without this file every parameter field simply shows.
(function () {
  "use strict";
  // The "add an SSH check" form shows the parameter fields of the chosen check only.
  var form = document.querySelector("[data-check-form]");
  if (!form) { return; }
  var kind = form.querySelector("[data-check-kind]");
  var groups = form.querySelectorAll("[data-params-for]");
  var sync = function () {
    groups.forEach(function (group) {
      var kinds = group.getAttribute("data-params-for").trim().split(/\s+/);
      group.hidden = kinds.indexOf(kind.value) === -1;
    });
  };
  kind.addEventListener("change", sync);
  sync();
})();
