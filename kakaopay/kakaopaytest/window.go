package kakaopaytest

import (
	"html/template"
	"net/http"

	"github.com/paygate/paygate/pg/pgtest"
)

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
		s.expireLocked(pm, s.now())
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
