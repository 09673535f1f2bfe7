// Progressive enhancement only: without this script every field is shown and the
// form works the same. With it, fields appear as they become relevant (the
// underlying-disease questions only for dystrophic calcinosis), and the list of
// medications can be filtered by typing.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function update() {
    var subtype = document.getElementById("subtype");
    if (!subtype) { return; }
    var chosen = subtype.value;
    document.querySelectorAll("[data-show-for]").forEach(function (element) {
      var wanted = element.getAttribute("data-show-for").split(" ");
      element.classList.toggle("hidden", chosen !== "" && wanted.indexOf(chosen) < 0);
    });
  }
  function filterMedications() {
    var filter = document.getElementById("medication-filter");
    var count = document.getElementById("medication-count");
    if (!filter) { return; }
    var words = filter.value.trim().toLowerCase();
    var shown = 0;
    document.querySelectorAll("#medication-list label").forEach(function (label) {
      var box = label.querySelector("input");
      var match = words === "" || label.getAttribute("data-name").indexOf(words) >= 0 || box.checked;
      label.classList.toggle("hidden", !match);
      if (match) { shown += 1; }
    });
    count.textContent = words === "" ? "" : shown + (shown === 1 ? " medication shown" : " medications shown");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var subtype = document.getElementById("subtype");
    if (subtype) { subtype.addEventListener("change", update); update(); }
    var filter = document.getElementById("medication-filter");
    if (filter) {
      filter.addEventListener("input", filterMedications);
      filter.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); }  // Enter filters, it does not submit
      });
    }
  });
}());
