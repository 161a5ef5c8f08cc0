// Select-all checkbox for list tables.
document.addEventListener("change", function (event) {
  if (event.target.matches("[data-select-all]")) {
    document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = event.target.checked; });
  }
});

// Inline edit on record pages (htmx): a refused or invalid save answers 400/403/409 with the
// form and the reason, which is swapped in like a success; Escape cancels an open field.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  var target = event.detail.target;
  if ([400, 403, 409].indexOf(status) >= 0 && target && target.matches("[data-inline-field]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape" || !event.target.closest) return;
  var form = event.target.closest("[data-inline-form]");
  if (form) {
    event.preventDefault();
    form.querySelector("[data-inline-cancel]").click();
  }
});

// A select marked data-submit-on-change submits its form when changed (e.g. a module choice
// that reloads the page with that module's fields).
document.addEventListener("change", function (event) {
  if (event.target.matches("select[data-submit-on-change]") && event.target.form) {
    event.target.form.requestSubmit();
  }
});

// "/" outside a text field jumps to the search box in the top bar.
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].indexOf(target.tagName) >= 0) return;
  var box = document.querySelector("[data-global-search]");
  if (box && box.offsetParent !== null) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});
