// Progressive enhancement only: without this script every field is shown and the
// form works the same. With it, fields appear as they become relevant (the
// underlying-disease questions only for dystrophic calcinosis).
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
  document.addEventListener("DOMContentLoaded", function () {
    var subtype = document.getElementById("subtype");
    if (subtype) { subtype.addEventListener("change", update); update(); }
  });
}());
