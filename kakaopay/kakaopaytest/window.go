package kakaopaytest

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Pay plays the buyer in KakaoPay's window for the order's latest readied
// tid: the buyer picks a card and passes the password check, and KakaoPay
// redirects to approval_url with a pg_token, which the result carries in
// Redirect["pg_token"]. req.Fault scripts the approval that follows.
// req.Device picks the window (next_redirect_pc_url, _mobile_url or
// _app_url); every one ends in the same redirect.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if err := pgtest.CheckDevice(req.Device, pg.DevicePC, pg.DeviceMobile, pg.DeviceApp); err != nil {
		return pgtest.PayResult{}, err
	}
	tok, _, err := s.pay(req.OrderID, req.Amount, req.Fault, "CARD")
	if err != nil {
		return pgtest.PayResult{}, err
	}
	return pgtest.PayResult{Redirect: map[string]string{"pg_token": tok}}, nil
}

// Errors returned by Pay.
var (
	ErrNoPayment     = errors.New("kakaopaytest: no readied payment for the order")
	ErrExpired       = errors.New("kakaopaytest: the tid expired")
	ErrAmount        = errors.New("kakaopaytest: amount differs from the readied total")
	ErrUnknownFault  = errors.New("kakaopaytest: unknown fault")
	ErrUnknownMethod = errors.New("kakaopaytest: payment method must be CARD or MONEY")
)

// pay authenticates the order's latest readied payment and returns its
// pg_token and approval redirect.
func (s *Sandbox) pay(orderID string, amount pg.Money, fault pgtest.Fault, method string) (token, redirect string, err error) {
	if !fault.Valid() {
		return "", "", fmt.Errorf("%w %q", ErrUnknownFault, fault)
	}
	if method != "CARD" && method != "MONEY" {
		return "", "", fmt.Errorf("%w, got %q", ErrUnknownMethod, method)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var p *payment
	for i := len(s.all) - 1; i >= 0; i-- {
		if c := s.all[i]; c.partnerOrderID == orderID && c.status == StatusReady {
			p = c
			break
		}
	}
	if p == nil {
		return "", "", fmt.Errorf("%w %q", ErrNoPayment, orderID)
	}
	if s.expireLocked(p, s.cfg.Now()) {
		return "", "", fmt.Errorf("%w: %s (order %q)", ErrExpired, p.tid, orderID)
	}
	if amount.IsSet() && (amount.Currency() != pg.KRW || amount.Int64() != p.total) {
		return "", "", fmt.Errorf("%w: paying %s, readied %d KRW", ErrAmount, amount, p.total)
	}
	return s.authenticateLocked(p, fault, method), p.approvalRedirect(), nil
}

// authenticateLocked moves a readied payment to AUTH_PASSWORD with a fresh
// pg_token.
func (s *Sandbox) authenticateLocked(p *payment, fault pgtest.Fault, method string) string {
	p.status = StatusAuthPassword
	p.methodType = method
	p.pgToken = randomHex(10)
	p.fault = fault
	return p.pgToken
}

func (p *payment) approvalRedirect() string {
	return withQuery(p.approvalURL, "pg_token", p.pgToken)
}

func withQuery(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// The buyer's payment window: what next_redirect_pc_url (info),
// next_redirect_mobile_url (mInfo) and next_redirect_app_url (aInfo) open.
// A browser pays or quits here and is sent to approval_url with a pg_token,
// or to cancel_url, as KakaoPay would.
var windowPage = template.Must(template.New("window").Parse(`<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>KakaoPay sandbox</title></head>
<body>
<h1>KakaoPay sandbox</h1>
{{if .Open}}
<p>{{.Item}} — {{.Total}}원 (주문 {{.OrderID}})</p>
<form method="post" action="pay">
<label><input type="radio" name="method" value="CARD" checked> 카드</label>
<label><input type="radio" name="method" value="MONEY"> 카카오페이머니</label>
<label>Fault <select name="fault">{{range .Faults}}<option value="{{.}}">{{if .}}{{.}}{{else}}none{{end}}</option>{{end}}</select></label>
<button name="action" value="pay">결제하기</button>
<button name="action" value="quit">취소</button>
</form>
{{else}}
<p>This payment is {{.Status}}; nothing to pay.</p>
{{end}}
</body></html>
`))

func (s *Sandbox) windowPayment(r *http.Request) *payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	pm := s.byWindow[r.PathValue("window")]
	if pm != nil {
		s.expireLocked(pm, s.cfg.Now())
	}
	return pm
}

func (s *Sandbox) handleWindow(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("view") {
	case "info", "mInfo", "aInfo":
	default:
		http.NotFound(w, r)
		return
	}
	pm := s.windowPayment(r)
	if pm == nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	data := struct {
		Open                  bool
		Item, OrderID, Status string
		Total                 int64
		Faults                []pgtest.Fault
	}{pm.status == StatusReady, pm.itemName, pm.partnerOrderID, pm.status, pm.total, pgtest.Faults}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = windowPage.Execute(w, data)
}

func (s *Sandbox) handleWindowPay(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pm := s.windowPayment(r)
	if pm == nil {
		http.NotFound(w, r)
		return
	}
	fault := pgtest.Fault(r.PostForm.Get("fault"))
	method := r.PostForm.Get("method")
	if method == "" {
		method = "CARD"
	}
	if !fault.Valid() || (method != "CARD" && method != "MONEY") {
		http.Error(w, "unknown fault or method", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if pm.status != StatusReady {
		status := pm.status
		s.mu.Unlock()
		http.Error(w, "payment is "+status, http.StatusConflict)
		return
	}
	var target string
	if r.PostForm.Get("action") == "quit" {
		pm.status = StatusQuitPayment
		target = pm.cancelURL
	} else {
		s.authenticateLocked(pm, fault, method)
		target = pm.approvalRedirect()
	}
	s.mu.Unlock()
	http.Redirect(w, r, target, http.StatusSeeOther)
}
