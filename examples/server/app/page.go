package app

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
)

// page is the sandbox checkout page: a person picks a PG, an amount and a
// fault, pays, and watches the order and the payment's timeline change.
func (a *App) page(w http.ResponseWriter, r *http.Request) {
	var sandboxes []string
	for name, s := range a.pgs {
		if s.sandbox != nil {
			sandboxes = append(sandboxes, name)
		}
	}
	sort.Strings(sandboxes)
	nonce := newNonce()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	_ = pageTemplate.Execute(w, map[string]any{"PGs": sandboxes, "OrderID": r.URL.Query().Get("orderId"), "Nonce": nonce})
}

// pageFor is the checkout page's address for an order, the order id
// escaped: a query value never becomes part of the redirect's structure.
func pageFor(orderID string) string {
	if orderID == "" {
		return "/"
	}
	return "/?orderId=" + url.QueryEscape(orderID)
}

// paymentReturn is where a PG's window sends the buyer back: on success it
// approves the payment with what the redirect carried, then shows the page
// for the order.
func (a *App) paymentReturn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	orderID := q.Get("orderId")
	if r.PathValue("outcome") == "success" && orderID != "" {
		if v, err := a.pay.PaymentOfOrder(r.Context(), orderID); err == nil && v.Status != pg.StatusFailed {
			http.Redirect(w, r, pageFor(orderID), http.StatusSeeOther)
			return
		}
		redirect := map[string]string{}
		for k := range q {
			redirect[k] = q.Get(k)
		}
		o, err := a.orders.Get(r.Context(), orderID)
		if err != nil {
			a.fail(w, err)
			return
		}
		amount, err := a.orders.Amount(r.Context(), o.OrderID)
		if err != nil {
			a.fail(w, err)
			return
		}
		if _, err := a.pay.Approve(r.Context(), paygate.ApproveRequest{
			PG: r.PathValue("pg"), OrderID: orderID, Amount: amount, PaymentKey: q.Get("paymentKey"), Redirect: redirect,
		}); err != nil {
			a.fail(w, err)
			return
		}
	}
	http.Redirect(w, r, pageFor(orderID), http.StatusSeeOther)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>paygate sandbox checkout</title>
<style nonce="{{.Nonce}}">
body{font-family:system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;color:#222}
fieldset{border:1px solid #ccc;border-radius:8px;margin-bottom:1rem}
label{display:inline-block;margin:.3rem 1rem .3rem 0}
button{padding:.4rem 1rem;margin-right:.5rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left;font-size:.9rem}
.status{font-weight:bold} #log{white-space:pre-wrap;background:#f6f6f6;padding:.5rem;border-radius:6px;font-size:.85rem}
</style></head><body>
<h1>paygate sandbox checkout</h1>
<p>Every PG here is a sandbox served by this server. Pay, then watch the order and the payment's event timeline.</p>
<fieldset><legend>Checkout</legend>
<label>PG <select id="pg">{{range .PGs}}<option>{{.}}</option>{{end}}</select></label>
<label>Amount (KRW) <input id="amount" type="number" value="15000" min="1000" step="1"></label>
<label>Order id <input id="orderId" value="{{.OrderID}}"></label>
<label>Device <select id="device"><option>pc</option><option>mobile</option><option>app</option></select></label><br>
<label>PG fault <select id="fault"><option value="">none</option><option>decline</option><option>timeout</option><option>timeout-unapproved</option><option>error500</option></select></label>
<label>Order service <select id="orderFailure"><option value="">works</option><option value="permanent">fails for good</option><option value="transient">fails 2 times</option></select></label><br>
<button id="pay">Pay</button>
</fieldset>
<fieldset><legend>Operator</legend>
<p>A refund is the shop's decision: it needs the operator token (PAYGATE_ADMIN_TOKEN, or the file the server named at start).</p>
<label>Operator token <input id="token" type="password" autocomplete="off"></label>
<label>Amount to refund (empty: everything) <input id="refundAmount" type="number" min="1" step="1"></label>
<button id="refund">Refund</button>
</fieldset>
<h2>Order <span id="order" class="status">–</span></h2>
<h2>Payment <span id="payment" class="status">–</span></h2>
<table><thead><tr><th>event</th><th>at</th></tr></thead><tbody id="events"></tbody></table>
<h3>Log</h3><div id="log"></div>
<script nonce="{{.Nonce}}">
const $ = id => document.getElementById(id);
let paymentId = null;
function log(x){ $('log').textContent += (typeof x === 'string' ? x : JSON.stringify(x)) + "\n"; }
async function call(method, path, body, key, token){
  const h = {'Content-Type':'application/json'}; if (key) h['Idempotency-Key'] = key;
  if (token) h['Authorization'] = 'Bearer ' + token;
  const r = await fetch(path, {method, headers:h, body: body ? JSON.stringify(body) : undefined});
  const j = await r.json().catch(() => ({}));
  log(method + ' ' + path + ' → ' + r.status + ' ' + JSON.stringify(j)); return j;
}
if (!$('orderId').value) $('orderId').value = 'web-' + Date.now();
$('pay').onclick = async () => {
  const pg = $('pg').value, orderId = $('orderId').value, amount = Number($('amount').value);
  const device = $('device').value;
  const co = {orderId, amount, pg, orderName: 'Sandbox order', device};
  if ($('orderFailure').value === 'permanent') co.sandbox = {orderFailure:'permanent'};
  if ($('orderFailure').value === 'transient') co.sandbox = {orderFailure:'transient', times:2};
  await call('POST', '/checkouts', co);
  const redirect = await call('POST', '/sandbox/' + pg + '/pay', {orderId, amount, fault: $('fault').value, device});
  const res = await call('POST', '/payments/approve', Object.assign({pg, orderId, amount}, redirect), 'approve-' + orderId + '-' + Date.now());
  paymentId = res.paymentId; poll();
};
$('refund').onclick = async () => {
  if (!paymentId) return;
  const body = {reason: 'refund from the page'};
  if ($('refundAmount').value) body.amount = Number($('refundAmount').value);
  await call('POST', '/payments/' + encodeURIComponent(paymentId) + '/cancel', body, 'refund-' + paymentId + '-' + Date.now(), $('token').value);
  poll();
};
async function poll(){
  const orderId = $('orderId').value;
  const o = await fetch('/orders/' + encodeURIComponent(orderId)).then(r => r.json()).catch(() => null);
  if (o && o.status) { $('order').textContent = o.status; paymentId = paymentId || o.paymentId; }
  if (paymentId) {
    const p = await fetch('/payments/' + encodeURIComponent(paymentId)).then(r => r.json());
    $('payment').textContent = p.status + ' (balance ' + p.balanceAmount + ')';
    const rows = (p.events || []).map(e => {
      const tr = document.createElement('tr');
      for (const text of [e.eventType, e.occurredAt]) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }
      return tr;
    });
    $('events').replaceChildren(...rows);
  }
}
setInterval(poll, 1000); poll();
</script></body></html>`))
