// Select-all checkbox for list tables.
document.addEventListener("change", function (event) {
  if (event.target.matches("[data-select-all]")) {
    document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = event.target.checked; });
  }
});
