// The new-request form: choosing a service puts the service's category in the category select,
// so the person sees what the request will be filed under. Without this script the server does
// the same when the category is left empty (support/tickets/views.py, ticket_new).
(function () {
  'use strict';
  document.querySelectorAll('select[data-categories]').forEach(function (select) {
    var map;
    try {
      map = JSON.parse(select.getAttribute('data-categories') || '{}');
    } catch (e) {
      return;
    }
    var category = select.form && select.form.elements.namedItem('category');
    if (!category) {
      return;
    }
    select.addEventListener('change', function () {
      var value = map[select.value];
      if (value && category.querySelector('option[value="' + value + '"]')) {
        category.value = value;
      }
    });
  });
})();
