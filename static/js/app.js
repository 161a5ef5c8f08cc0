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
// that reloads the page with that module's fields); data-clear-on-change="name" first empties
// the form's field of that name (a choice that depended on the old value).
document.addEventListener("change", function (event) {
  var select = event.target;
  if (select.matches("select[data-submit-on-change]") && select.form) {
    var stale = select.dataset.clearOnChange && select.form.elements[select.dataset.clearOnChange];
    if (stale) stale.value = "";
    select.form.requestSubmit();
  }
});

// A button or link marked data-confirm="question" goes ahead only when the user confirms.
document.addEventListener("click", function (event) {
  var element = event.target.closest && event.target.closest("[data-confirm]");
  if (element && !window.confirm(element.dataset.confirm)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// The Content Security Policy (docs/security.md) forbids style="" attributes. Sizes and colours
// that come from the data are given in data- attributes and set here through the CSSOM, which the
// policy allows: data-width-percent (progress bars), data-bg-color (status and picklist colours),
// data-indent-px (a tree's indentation). Runs on the page and on every piece htmx swaps in.
function applyDataStyles(root) {
  var select = function (attribute) {
    var found = Array.prototype.slice.call(root.querySelectorAll("[" + attribute + "]"));
    if (root.hasAttribute && root.hasAttribute(attribute)) found.push(root);
    return found;
  };
  select("data-width-percent").forEach(function (element) {
    var value = parseFloat(element.dataset.widthPercent);
    if (!isNaN(value)) element.style.width = Math.max(0, Math.min(100, value)) + "%";
  });
  select("data-bg-color").forEach(function (element) {
    element.style.backgroundColor = element.dataset.bgColor; // an invalid colour is ignored
  });
  select("data-indent-px").forEach(function (element) {
    var value = parseInt(element.dataset.indentPx, 10);
    if (!isNaN(value)) element.style.paddingLeft = value + "px";
  });
}
if (window.htmx) {
  htmx.onLoad(applyDataStyles);
} else {
  document.addEventListener("DOMContentLoaded", function () { applyDataStyles(document.body); });
}

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
