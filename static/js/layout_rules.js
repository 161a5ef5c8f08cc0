// Layout rules on a record's form: fields shown, hidden and required by the values in it.
// The form carries the state the server computed (data-layout); on every change htmx posts the
// form to the layout endpoint, which answers with the new state in an HX-Trigger "layout-rules"
// event. The server applies the same rules on save, so this only keeps the page in step.
(function () {
  "use strict";

  function wrapper(key) {
    return document.getElementById("div_id_" + key);
  }

  function setRequired(key, required) {
    var box = wrapper(key);
    if (!box) return;
    var label = box.querySelector("label");
    var mark = label ? label.querySelector(".asteriskField") : null;
    if (required && label && !mark) {
      var last = label.lastChild;
      if (last && last.nodeType === Node.TEXT_NODE) last.textContent = last.textContent.replace(/\s+$/, "");
      mark = document.createElement("span");
      mark.className = "asteriskField";
      mark.textContent = "*";
      label.appendChild(mark);
    } else if (!required && mark) {
      mark.remove();
    }
    box.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "hidden") return;
      if (required) input.setAttribute("aria-required", "true");
      else input.removeAttribute("aria-required");
    });
    box.dataset.layoutRequired = required ? "true" : "false";
  }

  function setHidden(key, hidden) {
    var box = wrapper(key);
    if (!box) return;
    box.classList.toggle("d-none", hidden);
    box.dataset.layoutHidden = hidden ? "true" : "false";
  }

  function apply(state) {
    if (!state) return;
    var hidden = new Set(state.hidden || []);
    var required = new Set(state.required || []);
    (state.controlled_hidden || []).forEach(function (key) { setHidden(key, hidden.has(key)); });
    (state.controlled_required || []).forEach(function (key) { setRequired(key, required.has(key)); });
    var form = document.getElementById("record-form");
    if (form) form.dataset.layoutReady = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("record-form");
    if (form && form.dataset.layout) apply(JSON.parse(form.dataset.layout));
  });
  document.body.addEventListener("layout-rules", function (event) {
    apply(event.detail);
  });
})();
