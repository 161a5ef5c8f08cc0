// Kanban board: drag a card to another column to change the grouping field.
// The server decides (record action with the card's version); a refusal puts the card back
// where it was and shows the reason. Cards load lazily per column with htmx.
(function () {
  "use strict";

  var board = document.getElementById("kanban");
  if (!board || typeof Sortable === "undefined") {
    return;
  }
  var messages = document.getElementById("kanban-messages");
  var field = board.dataset.field;
  var query = board.dataset.query;

  function csrfToken() {
    if (board.dataset.csrf) {
      return board.dataset.csrf;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function showMessage(text, kind) {
    var alert = document.createElement("div");
    alert.className = "alert alert-" + (kind || "danger") + " alert-dismissible shadow fade show";
    alert.setAttribute("role", "alert");
    alert.setAttribute("data-testid", "kanban-alert");
    alert.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", board.dataset.msgClose || "");
    alert.appendChild(close);
    messages.appendChild(alert);
    window.setTimeout(function () {
      if (alert.parentNode) {
        alert.parentNode.removeChild(alert);
      }
    }, 8000);
  }

  function setCounts(counts) {
    if (!counts) {
      return;
    }
    board.querySelectorAll("[data-count-for]").forEach(function (badge) {
      var value = badge.getAttribute("data-count-for");
      if (Object.prototype.hasOwnProperty.call(counts, value)) {
        badge.textContent = counts[value];
      }
    });
  }

  function firstCard(list) {
    return list.querySelector(".kanban-card");
  }

  // Cards loaded after a move may repeat one already shown: keep the first.
  function dropDuplicates() {
    var seen = {};
    board.querySelectorAll(".kanban-card").forEach(function (card) {
      if (seen[card.dataset.pk]) {
        card.parentNode.removeChild(card);
      } else {
        seen[card.dataset.pk] = true;
      }
    });
  }

  function move(item, from, to, origin) {
    var body = new URLSearchParams();
    body.set("field", field);
    body.set("value", to.dataset.value);
    body.set("version", item.dataset.version);
    item.classList.add("is-saving");

    function putBack(reason, counts) {
      var next = origin.next;
      if (next && next.parentNode === from) {
        from.insertBefore(item, next);
      } else {
        from.insertBefore(item, from.querySelector(".kanban-more"));
      }
      setCounts(counts);
      showMessage(reason || board.dataset.msgFailed, "danger");
    }

    fetch(item.dataset.moveUrl + (query ? "?" + query : ""), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrfToken(), "Accept": "application/json", "X-Requested-With": "XMLHttpRequest"},
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {ok: false}; }).then(function (data) {
        return {status: response.status, data: data};
      });
    }).then(function (result) {
      item.classList.remove("is-saving");
      if (result.status === 200 && result.data.ok) {
        item.dataset.version = result.data.version;
        setCounts(result.data.count_labels || result.data.counts);
        // The moved record is now the most recently changed one in its column.
        to.insertBefore(item, firstCard(to));
      } else {
        putBack(result.data.error, result.data.count_labels || result.data.counts);
      }
    }).catch(function () {
      item.classList.remove("is-saving");
      putBack(board.dataset.msgNetwork);
    });
  }

  board.querySelectorAll(".kanban-cards").forEach(function (list) {
    var origin = {};
    Sortable.create(list, {
      group: {
        name: "kanban",
        pull: true,
        put: function (to) { return to.el.dataset.accepts !== "false"; }
      },
      sort: false,
      draggable: ".kanban-card.is-draggable",
      filter: ".kanban-more",
      preventOnFilter: false,
      animation: 150,
      ghostClass: "kanban-ghost",
      onStart: function (event) {
        origin.next = event.item.nextElementSibling;
      },
      onEnd: function (event) {
        if (event.from !== event.to) {
          move(event.item, event.from, event.to, {next: origin.next});
        }
      }
    });
  });

  document.body.addEventListener("htmx:afterSettle", dropDuplicates);
})();
