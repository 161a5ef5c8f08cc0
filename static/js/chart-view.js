// Stacked bar chart of records per person and per picklist value. Data comes from the page
// (json_script "chart-data"); clicking a bar opens the records behind it.
(function () {
  "use strict";

  var canvas = document.getElementById("chart-canvas");
  var source = document.getElementById("chart-data");
  if (!canvas || !source || typeof Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var ALERT = "#dc3545";

  function isUnassigned(index) {
    return data.persons[index] === null;
  }

  var datasets = data.datasets.map(function (dataset) {
    return {
      label: dataset.label,
      data: dataset.data,
      backgroundColor: dataset.color,
      // The unassigned bar stands out: a red outline around each of its segments.
      borderColor: data.persons.map(function (person, index) { return isUnassigned(index) ? ALERT : dataset.color; }),
      borderWidth: data.persons.map(function (person, index) { return isUnassigned(index) ? 2 : 0; }),
      urls: dataset.urls
    };
  });

  new Chart(canvas, {
    type: "bar",
    data: {labels: data.labels, datasets: datasets},
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: {mode: "nearest", intersect: true},
      scales: {
        x: {
          stacked: true,
          ticks: {
            color: function (context) { return isUnassigned(context.index) ? ALERT : undefined; },
            font: function (context) { return isUnassigned(context.index) ? {weight: "bold"} : undefined; }
          }
        },
        y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}
      },
      plugins: {
        legend: {
          position: "bottom",
          labels: {
            // Legend swatches without the unassigned bar's red outline.
            generateLabels: function (chart) {
              return Chart.defaults.plugins.legend.labels.generateLabels(chart).map(function (item) {
                item.strokeStyle = item.fillStyle;
                item.lineWidth = 0;
                return item;
              });
            }
          }
        }
      },
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
      onClick: function (event, elements) {
        if (!elements.length) {
          return;
        }
        var element = elements[0];
        var url = datasets[element.datasetIndex].urls[element.index];
        if (url) {
          window.location.href = url;
        }
      }
    }
  });
})();
