// A button that copies a shown text (data-copy: the id of the element holding it; data-done:
// what to say once copied), e.g. a new terminal's secret (provider_admin.html) or the
// ledger's public key (audit_chain.html). Shown only where the script runs; without it the
// text can still be selected and copied by hand.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var said = document.getElementById("copy-done");
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent.trim();
      function done(ok) {
        if (said) said.textContent = ok ? (button.getAttribute("data-done") || "已复制。") : "没能复制，请长按选中后复制。";
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      } else {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });
})();
