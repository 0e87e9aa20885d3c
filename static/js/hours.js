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

    // One tap for the usual durations.
    var quick = form.querySelector(".cd-quick-durations");
    var duration = form.querySelector(".cd-duration input");
    if (quick && duration) {
      quick.hidden = false;
      quick.addEventListener("click", function (event) {
        var button = event.target.closest("[data-duration]");
        if (button) {
          duration.value = button.getAttribute("data-duration");
          duration.focus();
        }
      });
    }
  }

  // A subset of core/durations.py, only to preview the change of agreed hours as one types.
  function parseMinutes(text) {
    var t = (text || "").replace(/\u00a0/g, " ").trim().toLowerCase().replace(",", ".");
    var m;
    if (!t) { return null; }
    if ((m = t.match(/^(\d+):(\d{2})(\s*h)?$/))) { return +m[2] < 60 ? +m[1] * 60 + +m[2] : null; }
    if ((m = t.match(/^(\d+)\s*h\s*(\d+)\s*(min|m)?$/))) { return +m[2] < 60 ? +m[1] * 60 + +m[2] : null; }
    if ((m = t.match(/^(\d*\.?\d+)\s*(h|hs|hr|hrs|hora|horas|hores|hour|hours)\.?$/))) { return Math.round(parseFloat(m[1]) * 60); }
    if ((m = t.match(/^(\d*\.?\d+)\s*(m|min|mins|minut|minuts|minuto|minutos|minute|minutes)\.?$/))) { return Math.round(parseFloat(m[1])); }
    if (/^\d+$/.test(t)) { return parseInt(t, 10); }
    if (/^\d*\.\d+$/.test(t)) { return Math.round(parseFloat(t) * 60); }
    return null;
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
