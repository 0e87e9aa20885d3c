// Live judgement of a new password as it is typed (progressive enhancement: the rules are on
// the page without this file, the length rule is marked by CSS alone, and the server judges
// again on submission). Fields marked data-password-check="<url>" ask that URL, in the
// user's language; the answer says why a password is weak.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var inputs = document.querySelectorAll("input[data-password-check]");
  Array.prototype.forEach.call(inputs, function (input) {
    var box = document.getElementById(input.id + "-strength");
    if (!box || !input.form) { return; }
    var meter = box.querySelector("meter");
    var text = box.querySelector(".cd-strength-text");
    var timer = null;
    var asked = 0;
    function valueOf(name) {
      var el = name ? input.form.elements[name] : null;
      return el && el.value ? el.value : null;
    }
    function show(verdict) {
      box.hidden = false;
      meter.value = verdict.score;
      text.textContent = verdict.acceptable ? box.getAttribute("data-ok") : verdict.messages.join(" ");
      box.classList.toggle("text-success-emphasis", verdict.acceptable);
      box.classList.toggle("text-danger-emphasis", !verdict.acceptable);
    }
    function check() {
      var password = input.value;
      if (!password) { box.hidden = true; return; }
      var mine = ++asked;
      var token = input.form.querySelector("input[name$='csrf_token']");
      fetch(input.getAttribute("data-password-check"), {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
        body: JSON.stringify({
          password: password,
          self: input.hasAttribute("data-password-self"),
          email: valueOf(input.getAttribute("data-email-field")),
          name: valueOf(input.getAttribute("data-name-field"))
        })
      }).then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(function (verdict) { if (verdict && mine === asked) { show(verdict); } })
        .catch(function () { /* the server judges on submission anyway */ });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(check, 350);
    });
  });
})();
