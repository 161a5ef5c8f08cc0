// The approval process form: every level is in the page, those after the first empty one hidden;
// "Add level" shows the next one, and goes away once all are shown.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-level]");
    if (!button) return;
    var next = document.querySelector("fieldset[data-level][hidden]");
    if (next) {
      next.hidden = false;
      var legend = next.querySelector("legend");
      if (legend) legend.scrollIntoView({block: "nearest"});
    }
    if (!document.querySelector("fieldset[data-level][hidden]")) button.hidden = true;
  });
})();
