// 适老化 tools (web/templates/_elder_tools.html): large text with high contrast, kept in this
// browser; and "朗读", which reads the page's main facts aloud with the browser's own
// speech synthesis in Chinese (the elements marked data-speak, else the page's heading).
(function () {
  var root = document.documentElement;
  var big = document.getElementById("big-mode");
  var KEY = "yiyang-big-mode";

  function apply(on) {
    root.classList.toggle("big-mode", on);
    if (big) big.setAttribute("aria-pressed", on ? "true" : "false");
  }

  var saved = false;
  try { saved = window.localStorage.getItem(KEY) === "1"; } catch (e) { saved = false; }
  apply(saved);
  if (big) {
    big.addEventListener("click", function () {
      var on = !root.classList.contains("big-mode");
      apply(on);
      try { window.localStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode */ }
    });
  }

  var read = document.getElementById("read-aloud");
  if (!read) return;
  if (!("speechSynthesis" in window)) {
    read.hidden = true;
    return;
  }
  read.addEventListener("click", function () {
    var parts = [];
    document.querySelectorAll("main [data-speak]").forEach(function (el) {
      if (el.offsetParent !== null) parts.push(el.innerText.replace(/\s+/g, " ").trim());
    });
    if (!parts.length) {
      var h = document.querySelector("main h1");
      if (h) parts.push(h.innerText);
    }
    var text = parts.join("。");
    window.speechSynthesis.cancel();
    var u = new SpeechSynthesisUtterance(text);
    u.lang = "zh-CN";
    u.rate = 0.9;
    window.speechSynthesis.speak(u);
  });
})();
