// A page of long work that is still running (an import, an issuance run) reloads itself every
// few seconds (the script tag's data-refresh-s) to show the progress; the work itself goes on
// in the background whether or not the page is open.
(function () {
  var me = document.currentScript;
  var seconds = parseInt((me && me.dataset.refreshS) || "3", 10);
  setTimeout(function () { location.reload(); }, seconds * 1000);
})();
