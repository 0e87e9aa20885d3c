// Inventory: the asset form shows the fields of the chosen kind. Progressive only: the server
// already renders the fields of the kind it knows, and every field is in the form either way.
(function () {
  "use strict";
  var form = document.querySelector("[data-asset-form]");
  if (!form) { return; }
  var kind = form.querySelector("[data-asset-kind]");
  var tag = form.querySelector("#tag");
  if (!kind) { return; }
  var suggestions = {};
  try { suggestions = JSON.parse(form.getAttribute("data-suggestions") || "{}"); } catch (e) { suggestions = {}; }
  // A suggested tag follows the kind (MURA-PC-004 becomes MURA-PRN-002) until someone edits it.
  var suggested = tag ? tag.value : "";

  function hasValue(wrap) {
    var input = wrap.querySelector("input, select, textarea");
    return !!(input && input.value !== "");
  }

  function sync() {
    var value = kind.value;
    var wraps = form.querySelectorAll("[data-kinds]");
    for (var i = 0; i < wraps.length; i++) {
      var wrap = wraps[i];
      var kinds = (wrap.getAttribute("data-kinds") || "").split(" ");
      // Never hide a field that holds a value: what is stored stays in view.
      wrap.hidden = kinds.indexOf(value) === -1 && !hasValue(wrap);
      var label = wrap.querySelector("label");
      var text = wrap.getAttribute("data-label-" + value) || wrap.getAttribute("data-label-default");
      if (label && text) { label.textContent = text; }
    }
    if (tag && suggestions[value] && tag.value === suggested) {
      tag.value = suggestions[value];
      suggested = tag.value;
    }
  }

  kind.addEventListener("change", sync);
})();
