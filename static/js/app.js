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
  // Tables marked cd-stack become one block per row on a phone (app.css): each cell is labelled
  // with its column's header here, so without this script the table keeps its columns and scrolls.
  document.querySelectorAll("table.cd-stack").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.replace(/\s+/g, " ").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var col = 0;
      Array.prototype.forEach.call(tr.children, function (cell) {
        if (heads[col] && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", heads[col]); }
        col += cell.colSpan || 1;
      });
    });
    table.classList.add("cd-stacked");
  });
  // A table wider than its box scrolls sideways; keyboard users reach that scroll only if the
  // box can take the focus.
  document.querySelectorAll(".table-responsive").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) { box.tabIndex = 0; }
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
