// The console's script: it sends the refund and the attention queue's
// actions to the API with the session's CSRF token and, for a refund, one
// Idempotency-Key per intended refund, so a double click refunds once.
"use strict";
(function () {
  var body = document.body;
  var csrf = body.dataset.csrf;
  var messages = {};
  try { messages = JSON.parse(body.dataset.messages || "{}"); } catch (e) { messages = {}; }

  function newKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // explain turns an API error into the operator's language: the code's
  // message, then the API's own words (which may carry the PG's code).
  function explain(res, data) {
    var code = data && data.error && data.error.code;
    var text = messages["err." + code] || messages["err.INTERNAL_ERROR"] || "error";
    if (data && data.error && data.error.message) {
      text += " (" + code + ": " + data.error.message + ")";
    }
    return text;
  }

  function show(el, text, ok) {
    if (!el) return;
    el.textContent = text;
    el.className = "message " + (ok ? "ok" : "bad");
  }

  function post(url, payload, headers) {
    var h = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    for (var k in headers) h[k] = headers[k];
    return fetch(url, { method: "POST", headers: h, body: JSON.stringify(payload), credentials: "same-origin" })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (data) { return { res: res, data: data }; });
      });
  }

  var refund = document.getElementById("refund-form");
  if (refund) {
    var button = document.getElementById("refund-submit");
    var msg = document.getElementById("refund-message");
    // One key per refund the operator means: kept across resends of the
    // same form (a double click, a retry after a lost answer), renewed
    // once an answer settled it.
    refund.dataset.key = newKey();
    refund.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var payload = { reason: document.getElementById("refund-reason").value };
      var amount = document.getElementById("refund-amount").value.replace(/[,\s원₩]/g, "");
      if (amount !== "") {
        if (!/^[0-9]+(\.[0-9]+)?$/.test(amount)) { show(msg, messages["err.INVALID_AMOUNT"], false); return; }
        payload.amount = Number(amount);
      }
      button.disabled = true;
      post(refund.dataset.url, payload, { "Idempotency-Key": refund.dataset.key }).then(function (r) {
        if (r.res.ok) {
          show(msg, messages["detail.refundDone"] || "OK", true);
          refund.dataset.key = newKey();
          window.location.reload();
          return;
        }
        if (r.res.status !== 409 || !r.data || r.data.error.code !== "IDEMPOTENCY_KEY_IN_USE") {
          refund.dataset.key = newKey();
        }
        show(msg, explain(r.res, r.data), false);
        button.disabled = false;
      }, function () {
        show(msg, messages["err.NETWORK"], false);
        button.disabled = false;
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("tr.item"), function (row) {
    var msg = row.querySelector(".message");
    var retry = row.querySelector("button.retry");
    if (retry) {
      retry.addEventListener("click", function () {
        retry.disabled = true;
        post(retry.dataset.url, {}, {}).then(function (r) {
          if (r.res.ok) { show(msg, messages["attention.done"], true); window.location.reload(); return; }
          show(msg, explain(r.res, r.data), false);
          retry.disabled = false;
        }, function () { show(msg, messages["err.NETWORK"], false); retry.disabled = false; });
      });
    }
    var resolve = row.querySelector("form.resolve");
    if (resolve) {
      resolve.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var b = resolve.querySelector("button");
        b.disabled = true;
        post(resolve.dataset.url, { note: resolve.querySelector("input").value }, {}).then(function (r) {
          if (r.res.ok) { show(msg, messages["attention.done"], true); window.location.reload(); return; }
          show(msg, explain(r.res, r.data), false);
          b.disabled = false;
        }, function () { show(msg, messages["err.NETWORK"], false); b.disabled = false; });
      });
    }
  });
})();
