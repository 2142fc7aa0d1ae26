// Small enhancements; every page works without them.
(function () {
  "use strict";
  var draft = document.getElementById("draft");
  var results = document.getElementById("results");
  var form = document.getElementById("draft-form");
  if (!draft || !results || !form) { return; }
  var timer = null, seq = 0;
  function preview() {
    var mine = ++seq;
    var data = new FormData(form);
    data.set("action", "preview");
    results.classList.add("busy");
    fetch("/rules/preview", {method: "POST", body: data, credentials: "same-origin",
                             headers: {"Accept": "text/html"}})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) { return; }          // an older answer arriving late
        results.innerHTML = html;              // rendered (and escaped) by the server
        results.classList.remove("busy");
        results.dataset.version = String(mine);
      })
      .catch(function () { results.classList.remove("busy"); });
  }
  draft.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(preview, 500);
  });
  var add = document.getElementById("add-list");
  if (add) {
    add.addEventListener("change", function () {
      if (!add.value) { return; }
      fetch("/rules/terms/" + encodeURIComponent(add.value), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (text) {
          if (text) { draft.value = text + draft.value; preview(); }
          add.value = "";
        });
    });
  }
})();
