// Tickets: small progressive enhancements. Every form works without this file; the server
// checks every file again (type from its content, size).
(function () {
  "use strict";
  // Say at once that a file is too large, instead of after uploading it.
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () {
      var max = parseInt(input.getAttribute("data-max-bytes"), 10);
      var file = input.files && input.files[0];
      var message = file && file.size > max ? input.getAttribute("data-too-large") || "" : "";
      input.setCustomValidity(message);
      input.classList.toggle("is-invalid", !!message);
      if (message) { input.reportValidity(); }
    });
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
