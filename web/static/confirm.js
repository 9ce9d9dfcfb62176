// The cashier's confirm step: count down the seconds the scanned code stays valid, and say
// so plainly when it has run out. A double press sends one request (the form's idempotency
// key would make a second one harmless anyway).
(function () {
  var box = document.getElementById("token-countdown");
  var form = document.querySelector('form[action="/provider/redeem/confirm"]');
  if (form) {
    form.addEventListener("submit", function () {
      var b = document.getElementById("confirm");
      if (b) setTimeout(function () { b.disabled = true; }, 0);
    });
  }
  if (!box) return;
  var left = document.getElementById("token-left");
  var expired = document.getElementById("token-expired");
  var deadline = Date.now() + parseInt(box.getAttribute("data-seconds") || "0", 10) * 1000;
  function tick() {
    var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    left.textContent = String(s);
    if (s <= 0) {
      expired.hidden = false;
      box.hidden = true;
      clearInterval(timer);
    }
  }
  var timer = setInterval(tick, 1000);
  tick();
})();
