// What a person typed survives a session that ended while they typed.
//
// On submit, a form's fields are put aside in this tab's sessionStorage with the page they
// were typed on. If the answer was the sign-in page (the session had expired) and, after
// signing in, the person is brought back to that same page, the fields are filled in again,
// once, with a note to check them and send again. On any other page load the copy is
// deleted: a form that was sent, or refused by the server with its own message, leaves
// nothing behind. Passwords, one-time codes, hidden fields and files are never put aside,
// nor the sign-in and sign-out forms (data-no-draft on any other form to leave it out).
(function () {
  "use strict";
  var KEY = "yiyang-draft";
  var MAX_AGE_MS = 60 * 60 * 1000;
  var SKIP_TYPES = { password: 1, hidden: 1, file: 1, submit: 1, button: 1, reset: 1, image: 1 };
  var SKIP_NAMES = { csrf_token: 1, code: 1, password: 1, totp: 1 };
  var store;
  try { store = window.sessionStorage; } catch (e) { return; }
  if (!store) return;

  function here() { return location.pathname + location.search; }

  // the sign-in pages: the password, then (for officers) the one-time code
  function signIn(path) { return path === "/login" || path.indexOf("/login/") === 0; }

  function keptField(el) {
    if (!el.name || el.disabled || SKIP_NAMES[el.name]) return false;
    if (el.tagName === "INPUT" && SKIP_TYPES[(el.type || "text").toLowerCase()]) return false;
    return true;
  }

  function formKey(form) { return form.getAttribute("action") || here(); }

  function putAside(form) {
    var action = (form.getAttribute("action") || "").split("?")[0];
    if (signIn(action) || action.indexOf("/logout") === 0 || form.hasAttribute("data-no-draft")) return;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!keptField(el)) return;
      var type = (el.type || "").toLowerCase();
      if (type === "radio" || type === "checkbox") {
        fields.push({ n: el.name, v: el.value, c: el.checked });
      } else {
        fields.push({ n: el.name, v: el.value });
      }
    });
    try {
      store.setItem(KEY, JSON.stringify({ page: here(), form: formKey(form), at: Date.now(), fields: fields }));
    } catch (e) { /* storage full or refused: nothing to keep */ }
  }

  function cameFromSignIn() {
    try { return signIn(new URL(document.referrer).pathname); } catch (e) { return false; }
  }

  function restore(draft) {
    var form = null;
    Array.prototype.forEach.call(document.forms, function (f) {
      if (!form && formKey(f) === draft.form) form = f;
    });
    if (!form) return;
    var byName = {};
    draft.fields.forEach(function (f) { (byName[f.n] = byName[f.n] || []).push(f); });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!keptField(el) || !byName[el.name]) return;
      var type = (el.type || "").toLowerCase();
      if (type === "radio" || type === "checkbox") {
        byName[el.name].forEach(function (f) { if (f.v === el.value) el.checked = f.c; });
      } else {
        var f = byName[el.name].shift();
        if (f) {
          el.value = f.v;
          el.dispatchEvent(new Event("input", { bubbles: true }));
          el.dispatchEvent(new Event("change", { bubbles: true }));
        }
      }
    });
    var note = document.createElement("p");
    note.className = "msg msg-warn";
    note.id = "draft-restored";
    note.setAttribute("role", "status");
    note.textContent = "刚才登录已过期，您填写的内容已恢复，请核对后再提交。";
    form.parentNode.insertBefore(note, form);
    note.scrollIntoView({ block: "center" });
  }

  if (!signIn(location.pathname)) {
    var raw = store.getItem(KEY);
    if (raw) {
      store.removeItem(KEY);
      try {
        var draft = JSON.parse(raw);
        if (draft.page === here() && Date.now() - draft.at < MAX_AGE_MS && cameFromSignIn()) {
          restore(draft);
        }
      } catch (e) { /* a copy that cannot be read is dropped */ }
    }
  }
  document.addEventListener("submit", function (ev) { putAside(ev.target); }, true);
})();
