// A form's refusal is where the eye is: when a page comes back with a problem to correct
// (an element with role="alert" in the page's main part, shown), it is scrolled into view and
// focused, so a screen reader reads it and a long page does not hide it below the fold.
(function () {
  "use strict";
  var alerts = document.querySelectorAll("main [role=alert]");
  for (var i = 0; i < alerts.length; i++) {
    var el = alerts[i];
    if (el.hidden || !el.textContent.trim()) continue;
    el.scrollIntoView({ block: "center" });
    // (a field the page focused itself, e.g. autofocus, keeps the focus)
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) return;
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: true });
    return;
  }
})();
