// Type-ahead pickers: a <select data-lookup-url> (crm.widgets.TypeaheadSelect) holds only its
// chosen options; Tom Select asks the server for at most 20 matches as the user types. The
// server searches (names, e-mails, Chinese substrings) and checks access, so every answer it
// gives is shown as it is: no second filtering here. Texts come translated in data- attributes.
(function () {
  "use strict";

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  function settingsFor(element) {
    var data = element.dataset;
    var url = data.lookupUrl;
    var multiple = element.multiple || element.tagName === "INPUT";
    var plugins = {};
    if (multiple) plugins.remove_button = {title: data.removeLabel || ""};
    else if (!element.required && data.clearLabel) plugins.clear_button = {title: data.clearLabel};
    return {
      dataAttr: "data-data", // a criteria row's chosen ids with their names (crm.criteria_forms)
      valueField: "id",
      labelField: "text",
      searchField: [],
      sortField: [{field: "$order"}],
      score: function () { return function () { return 1; }; },
      maxOptions: 20,
      hideSelected: true,
      closeAfterSelect: true,
      placeholder: data.placeholder || "",
      plugins: plugins,
      load: function (query, callback) {
        var self = this;
        var address = url + (url.indexOf("?") >= 0 ? "&" : "?") + "q=" + encodeURIComponent(query);
        fetch(address, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
          .then(function (response) { return response.ok ? response.json() : {results: []}; })
          .then(function (json) {
            self.clearOptions(); // keeps what is chosen; earlier answers would otherwise linger
            callback(json.results || []);
          })
          .catch(function () { callback(); });
      },
      render: {
        option: function (item, escape) {
          var detail = item.detail ? ' <small class="text-body-secondary ms-1">' + escape(item.detail) + "</small>" : "";
          return "<div>" + escape(item.text) + detail + "</div>";
        },
        item: function (item, escape) { return "<div>" + escape(item.text) + "</div>"; },
        no_results: function () { return '<div class="no-results">' + escapeHtml(data.noResults) + "</div>"; },
        not_loading: function () { return ""; },
      },
    };
  }

  function init(root) {
    if (typeof TomSelect === "undefined") return; // the plain <select> still works
    var elements = (root.matches && root.matches("[data-lookup-url]")) ? [root] : [];
    elements = elements.concat(Array.prototype.slice.call(root.querySelectorAll("[data-lookup-url]")));
    elements.forEach(function (element) {
      if (element.tomselect || element.disabled || !element.dataset.lookupUrl) return;
      var picker = new TomSelect(element, settingsFor(element));
      // An autofocused field (inline edit on a record page) keeps the focus once enhanced.
      if (element.hasAttribute("autofocus")) picker.focus();
    });
  }

  // A criteria row (field / operator / value): choosing a lookup or user field makes the value a
  // type-ahead over that field's records or members (ids, separated by commas); choosing another
  // field makes it plain text again. Either way the value typed for the old field is cleared.
  document.addEventListener("change", function (event) {
    var select = event.target;
    var row = select.closest && select.closest("[data-criteria-row]");
    if (!row || !select.matches("select[name$=_field]")) return;
    var input = row.querySelector("input[name$=_value]");
    var option = select.options[select.selectedIndex];
    var url = option ? option.getAttribute("data-lookup-url") || "" : "";
    if (input.tomselect) input.tomselect.destroy();
    input.value = "";
    input.removeAttribute("data-data");
    if (url) {
      input.setAttribute("data-lookup-url", url);
      init(input);
    } else {
      input.removeAttribute("data-lookup-url");
    }
  });

  window.initTypeaheads = init;
  if (window.htmx) {
    htmx.onLoad(init); // the page, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
