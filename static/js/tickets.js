// Tickets: small progressive enhancements. Every form works without this file; the server
// checks every file again (type from its content, size).
(function () {
  "use strict";
  // Check a file's size and type as soon as it is chosen, say what is wrong beside the field
  // (not in a tooltip that vanishes), and hold the form back until it is fixed: a refused file
  // used to cost a clerk the whole request.
  function fileProblem(input) {
    var file = input.files && input.files[0];
    if (!file) { return ""; }
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    if (max && file.size > max) { return input.getAttribute("data-too-large") || ""; }
    var accept = (input.getAttribute("accept") || "").toLowerCase().split(",").filter(Boolean);
    var name = (file.name || "").toLowerCase();
    if (accept.length && !accept.some(function (ext) { return name.slice(-ext.length) === ext; })) {
      return input.getAttribute("data-wrong-type") || "";
    }
    return "";
  }
  function showProblem(input) {
    var message = fileProblem(input);
    var box = document.getElementById(input.id + "-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = input.id + "-problem";
      box.className = "invalid-feedback d-block";
      box.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", box);
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + box.id).trim());
    }
    box.textContent = message;
    box.hidden = !message;
    input.classList.toggle("is-invalid", !!message);
    input.setAttribute("aria-invalid", message ? "true" : "false");
    return message;
  }
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () { showProblem(input); });
    if (input.form) {
      input.form.addEventListener("submit", function (event) {
        if (showProblem(input)) {
          event.preventDefault();
          event.stopImmediatePropagation();
          input.focus();
        }
      });
    }
  });
  // A reply box grows with what is typed (phones have little room for a fixed tall box).
  document.querySelectorAll(".cd-reply-form textarea").forEach(function (area) {
    var fit = function () {
      area.style.height = "auto";
      area.style.height = Math.min(area.scrollHeight + 2, 480) + "px";
    };
    area.addEventListener("input", fit);
  });
})();
