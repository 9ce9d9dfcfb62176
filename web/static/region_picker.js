// The region picker (web/templates/_region_picker.html): a search box narrows the list of
// regions to those whose names contain what was typed; one match is selected at once.
(function () {
  document.querySelectorAll("[data-region-picker]").forEach(function (box) {
    var name = box.getAttribute("data-region-picker");
    var search = document.getElementById(name + "-search");
    var select = document.getElementById(name);
    var count = box.querySelector("[data-region-count]");
    if (!search || !select) return;
    search.hidden = false;
    var options = Array.prototype.slice.call(select.querySelectorAll("option[data-search]"));
    search.addEventListener("input", function () {
      var q = search.value.replace(/\s+/g, "");
      var shown = [];
      options.forEach(function (o) {
        var hit = !q || o.getAttribute("data-search").replace(/\s+/g, "").indexOf(q) >= 0;
        o.hidden = !hit;
        o.disabled = !hit;
        if (hit) shown.push(o);
      });
      select.querySelectorAll("optgroup").forEach(function (g) {
        g.hidden = !g.querySelector("option:not([hidden])");
      });
      if (q && shown.length === 1) select.value = shown[0].value;
      count.textContent = q ? (shown.length ? "找到 " + shown.length + " 个地区，请在下面选择。" : "没有找到这个地区。") : "";
    });
  });
})();
