// The payment code page: fetch a one-time code, show it, count down, fetch a new one a little
// before it expires. Nothing else is timed: the person can take as long as they need.
(function () {
  var box = document.getElementById("qr");
  if (!box) return;
  var img = document.getElementById("qr-img");
  var left = document.getElementById("qr-left");
  var err = document.getElementById("qr-error");
  var margin = parseInt(box.getAttribute("data-margin") || "10", 10);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var deadline = 0, timer = null, busy = false;

  function tick() {
    var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    left.textContent = String(Math.max(0, s - margin));
    if (s <= margin && !busy) refresh();
  }

  function refresh() {
    busy = true;
    fetch("/me/qr/code", {method: "POST", credentials: "same-origin",
                          headers: {"X-CSRF-Token": csrf}})
      .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
      .then(function (res) {
        if (!res[0]) throw new Error((res[1].error && res[1].error.message) || "暂时无法生成付款码");
        img.src = res[1].image;
        deadline = Date.now() + res[1].expires_in_s * 1000;
        left.textContent = String(Math.max(0, res[1].expires_in_s - margin));
        err.hidden = true;
        box.setAttribute("data-ready", "1");
      })
      .catch(function (e) {
        err.textContent = e.message + "，稍后自动重试。";
        err.hidden = false;
        deadline = Date.now() + (margin + 5) * 1000;
      })
      .then(function () { busy = false; });
  }

  document.getElementById("qr-refresh").addEventListener("click", refresh);
  refresh();
  timer = setInterval(tick, 1000);
})();
