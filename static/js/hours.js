// Hours ledger: small progressive enhancements of the log and agreement forms.
// Every form works without this file; the server parses and checks everything again.
(function () {
  "use strict";

  // The travel field only matters on site: hide it for remote work.
  var form = document.querySelector(".cd-log-form");
  if (form) {
    var travel = form.querySelector(".cd-travel");
    var radios = form.querySelectorAll("[data-mode-toggle]");
    var syncTravel = function () {
      var checked = form.querySelector("[data-mode-toggle]:checked");
      if (travel) { travel.hidden = !!checked && checked.value !== travel.getAttribute("data-travel-for"); }
    };
    radios.forEach(function (radio) { radio.addEventListener("change", syncTravel); });
    syncTravel();
  }

  // core/durations.py's rules, ported once in durations.js (loaded before this file).
  function parseMinutes(text) {
    var parse = window.CouncilDesk && window.CouncilDesk.parseDuration;
    var result = parse ? parse(text, 0) : {};
    return result.minutes === undefined ? null : result.minutes;
  }

  var lang = document.documentElement.lang || "ca";
  var percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 });
  document.querySelectorAll("input[data-previous][data-change-target]").forEach(function (input) {
    var previous = parseInt(input.getAttribute("data-previous"), 10);
    var target = document.getElementById(input.getAttribute("data-change-target"));
    if (!target || !(previous > 0)) { return; }
    var update = function () {
      var minutes = parseMinutes(input.value);
      target.textContent = "";
      if (minutes === null) { return; }
      var ratio = (minutes - previous) / previous;
      var badge = document.createElement("span");
      badge.className = "badge " + (ratio > 0 ? "text-bg-success" : ratio < 0 ? "text-bg-warning" : "text-bg-light border");
      badge.textContent = ratio === 0 ? target.getAttribute("data-unchanged") || "=" : (ratio > 0 ? "+" : "") + percent.format(ratio);
      target.appendChild(badge);
    };
    input.addEventListener("input", update);
    update();
  });
})();
