// The redeem page's total: each item's quantity times its list price (or the price typed for
// a variable-price item), added up as the cashier types. Only a convenience: the server and
// the voucher service price the bill themselves (web/service/bill.py, service/pricing.py).
(function () {
  var form = document.getElementById("bill-items");
  var total = document.getElementById("bill-total");
  if (!form || !total) return;
  function fen(text) {
    var m = /^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$/.exec(text || "");
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  }
  function update() {
    var sum = 0, ok = true;
    form.querySelectorAll(".bill-item").forEach(function (row) {
      var q = row.querySelector(".bill-qty").value.trim();
      if (q === "" || q === "0") return;
      if (!/^\d{1,2}$/.test(q)) { ok = false; return; }
      var unit = row.dataset.variable ? fen(row.querySelector(".bill-price").value) :
        parseInt(row.dataset.price, 10);
      if (unit === null || isNaN(unit)) { ok = false; return; }
      sum += unit * parseInt(q, 10);
    });
    total.textContent = ok ? (Math.floor(sum / 100) + "." + ("0" + sum % 100).slice(-2)) : "—";
  }
  form.addEventListener("input", update);
  update();
})();
