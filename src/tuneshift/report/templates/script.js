// Sortable and filterable tables: click a header to sort (again to reverse; empty cells stay last), type in the
// box above a table to keep the rows containing every word typed. Nothing is fetched.
(function () {
  "use strict";
  function order(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    return a.localeCompare(b, undefined, { numeric: true });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var a = r.cells[column].dataset.sort, b = s.cells[column].dataset.sort;
          if (a === "" || b === "") return (a === "") - (b === "");
          return sign * order(a, b);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    var body = input.parentNode.querySelector("tbody");
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(body.rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !words.every(function (word) { return text.indexOf(word) >= 0; });
      });
    });
  });
})();
