// The payment code page: fetch a one-time code, show it, count down, fetch a new one a little
// before it expires; every 3 s ask whether a payment was made with it, and if so open the
// page again to say so. Nothing else is timed: the person can take as long as they need.
// When the session has ended the person is sent to sign in again (never a parse error and
// endless retries).
(function () {
  var box = document.getElementById("qr");
  if (!box) return;
  var img = document.getElementById("qr-img");
  var left = document.getElementById("qr-left");
  var bar = document.getElementById("qr-bar");
  var digits = document.getElementById("qr-digits");
  var err = document.getElementById("qr-error");
  var margin = parseInt(box.getAttribute("data-margin") || "10", 10);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var deadline = 0, span = 1, timer = null, busy = false, failures = 0;

  function signInAgain() {
    clearInterval(timer);
    err.textContent = "登录已过期，正在打开登录页……";
    err.hidden = false;
    window.location.assign("/login?expired=1");
  }

  function show(seconds) {
    left.textContent = String(seconds);
    if (bar) bar.style.width = Math.round(100 * seconds / span) + "%";
  }

  function tick() {
    var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    show(Math.max(0, s - margin));
    if (s <= margin && !busy) refresh();
  }

  function refresh() {
    busy = true;
    fetch("/me/qr/code", {method: "POST", credentials: "same-origin",
                          headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}})
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        if (r.status === 401 || r.redirected || type.indexOf("application/json") < 0) {
          signInAgain();
          return null;
        }
        return r.json().then(function (b) { return [r.ok, b]; });
      })
      .then(function (res) {
        if (!res) return;
        if (!res[0]) throw new Error((res[1].error && res[1].error.message) || "暂时无法生成付款码");
        img.src = res[1].image;
        if (digits) digits.textContent = res[1].short_code || "";
        span = Math.max(1, res[1].expires_in_s - margin);
        deadline = Date.now() + res[1].expires_in_s * 1000;
        show(span);
        err.hidden = true;
        failures = 0;
        box.setAttribute("data-ready", "1");
      })
      .catch(function (e) {
        failures += 1;
        err.textContent = e.message + "，稍后自动重试。";
        err.hidden = false;
        // wait longer after each failure (up to a minute) instead of hammering the server
        deadline = Date.now() + (margin + Math.min(60, 5 * failures)) * 1000;
      })
      .then(function () { busy = false; });
  }

  // A payment made with the person's code: open the page again, which says what was paid
  // and shows the balances as they are now (and a fresh code: the one shown is used).
  var since = box.getAttribute("data-since") || "";
  var watching = false;
  function watch() {
    if (watching || !since) return;
    watching = true;
    fetch("/me/qr/paid?since=" + encodeURIComponent(since),
          {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        return r.ok && type.indexOf("application/json") >= 0 ? r.json() : null;
      })
      .then(function (b) {
        if (b && b.paid) window.location.assign("/me/qr?paid=" + encodeURIComponent(b.paid));
      })
      .catch(function () {})
      .then(function () { watching = false; });
  }

  document.getElementById("qr-refresh").addEventListener("click", refresh);
  refresh();
  timer = setInterval(tick, 1000);
  setInterval(watch, 3000);
})();
