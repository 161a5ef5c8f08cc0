// The workflow rule form: show the settings of the chosen kind in each action row, and the
// trigger's own fields (changed fields, date) for the chosen trigger.
(function () {
  function showKind(select) {
    var row = select.closest("[data-action-row]");
    if (!row) return;
    row.querySelectorAll("[data-kind]").forEach(function (box) {
      box.hidden = box.getAttribute("data-kind") !== select.value;
    });
  }
  function showTrigger(form) {
    var trigger = form.querySelector("select[name=trigger]");
    if (!trigger) return;
    form.querySelectorAll("[data-when]").forEach(function (box) {
      box.hidden = box.getAttribute("data-when") !== trigger.value;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-action-type]")) showKind(event.target);
    if (event.target.matches("select[name=trigger]")) showTrigger(event.target.form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("workflow-rule-form");
    if (form) showTrigger(form);
  });
})();
