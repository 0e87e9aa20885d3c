// Duration fields: what was typed, read back at once ("= 1 h 30 min"), and the quick buttons
// beside the field. A port of core/durations.py's rules; the server parses everything again,
// and the form works without this file.
(function () {
  "use strict";
  var NBSP = "\u00a0";
  var NUMBER = "(\\d+(?:[.,]\\d+)?|[.,]\\d+)";
  var HOUR = "(?:hours|hour|hores|horas|hora|hrs|hr|hs|h)\\.?";
  var MINUTE = "(?:(?:minutes|minute|minutos|minuto|minuts|minut|mins|min|m)\\.?|')";
  var JOINER = "(?:\\s*(?:,|\\+|y|i|and)\\s*|\\s*)";
  var CLOCK = new RegExp("^(\\d+):(\\d{2})(?:\\s*" + HOUR + ")?$");
  var HOURS_AND_MINUTES = new RegExp("^(\\d+)\\s*" + HOUR + JOINER + "(\\d+)\\s*(?:" + MINUTE + ")?$");
  var HOURS = new RegExp("^" + NUMBER + "\\s*" + HOUR + "$");
  var MINUTES = new RegExp("^" + NUMBER + "\\s*" + MINUTE + "$");
  var BARE = /^(\d+|\d*[.,]\d+)$/;

  function decimal(text) { return parseFloat(text.replace(",", ".")); }

  // {minutes: n} or {error: "empty" | "invalid" | "no_unit" | "not_positive" | "too_long"}
  function parse(text, max) {
    var t = (text || "").replace(/[\u2019\u2032\u00b4`]/g, "'").replace(/[\u2212\u2013]/g, "-")
      .replace(/\s+/g, " ").trim().toLowerCase();
    if (!t) { return { error: "empty" }; }
    var negative = t.charAt(0) === "-";
    if (negative) { t = t.slice(1).trim(); }
    var m, minutes = null;
    if ((m = t.match(CLOCK))) { minutes = +m[2] < 60 ? +m[1] * 60 + +m[2] : null; }
    else if ((m = t.match(HOURS_AND_MINUTES))) { minutes = +m[2] < 60 ? +m[1] * 60 + +m[2] : null; }
    else if ((m = t.match(HOURS))) { minutes = Math.round(decimal(m[1]) * 60); }
    else if ((m = t.match(MINUTES))) { minutes = Math.round(decimal(m[1])); }
    else if (BARE.test(t)) {
      if (negative || decimal(t) === 0) { return { error: "not_positive" }; }
      return { error: "no_unit" };
    }
    if (minutes === null) { return { error: "invalid" }; }
    if (negative || minutes <= 0) { return { error: "not_positive" }; }
    if (max && minutes > max) { return { error: "too_long" }; }
    return { minutes: minutes };
  }

  function format(minutes, lang) {
    var hours = Math.floor(minutes / 60), rest = minutes % 60, parts = [];
    if (hours) { parts.push(new Intl.NumberFormat(lang).format(hours) + NBSP + "h"); }
    if (rest || !hours) { parts.push(rest + NBSP + "min"); }
    return parts.join(" ");
  }

  window.CouncilDesk = window.CouncilDesk || {};
  window.CouncilDesk.parseDuration = parse;

  var lang = document.documentElement.lang || "ca";
  document.querySelectorAll("[data-duration-field]").forEach(function (wrap) {
    var input = wrap.querySelector("input");
    var preview = wrap.querySelector(".cd-duration-preview");
    var quick = wrap.querySelector(".cd-quick-durations");
    if (!input) { return; }
    var max = parseInt(input.getAttribute("data-max-minutes"), 10) || 0;
    var allowZero = input.hasAttribute("data-allow-zero");
    var show = function () {
      if (!preview) { return; }
      var result = parse(input.value, max);
      if (allowZero && result.error === "not_positive" && /^0+(?:[.,]0+)?(?:\s*(?:h|min))?$|^0:00$/.test(input.value.trim())) {
        result = { minutes: 0 };
      }
      preview.classList.remove("text-danger", "text-success");
      if (result.minutes !== undefined && (result.minutes > 0 || allowZero)) {
        preview.textContent = "= " + format(result.minutes, lang);
        preview.classList.add("text-success");
      } else if (result.error === "empty") {
        preview.textContent = "";
      } else {
        preview.textContent = preview.getAttribute("data-msg-" + result.error.replace("_", "-")) || "";
        preview.classList.add("text-danger");
      }
    };
    input.addEventListener("input", show);
    show();
    if (quick) {
      quick.hidden = false;
      quick.addEventListener("click", function (event) {
        var button = event.target.closest("[data-duration]");
        if (!button) { return; }
        input.value = button.getAttribute("data-duration");
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.focus();
      });
    }
  });
})();
