package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
)

//go:embed web
var webFS embed.FS

// pages are the console's templates, each the layout plus its content.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").ParseFS(webFS, "web/templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "dashboard", "payments", "payment", "attention", "error"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(webFS, "web/templates/"+name+".html"))
	}
	return out
}()

// view is what every page template gets.
type view struct {
	Lang     string
	Nonce    string
	CSRF     string
	Base     string
	Nav      string
	Operator Operator
	// Title is a message key.
	Title string
	// Self is the page's address without lang, for the language toggle.
	Self string
	Body any
}

// T translates a message key.
func (v *view) T(key string) string { return translate(v.Lang, key) }

// Money formats an amount in the page's language.
func (v *view) Money(m pg.Money) string { return formatMoney(v.Lang, m) }

// Amount formats a JSON amount in currency.
func (v *view) Amount(n json.Number, currency pg.Currency) string {
	m, err := pg.ParseMoney(string(n), currency)
	if err != nil {
		return string(n)
	}
	return formatMoney(v.Lang, m)
}

// Time formats a time in Seoul.
func (v *view) Time(t time.Time) string { return formatTime(t) }

// Percent formats a rate.
func (v *view) Percent(r float64) string { return formatPercent(r) }

// Messages is the error messages for the page's script, as JSON.
func (v *view) Messages() string {
	m := map[string]string{}
	for k, s := range messages[v.Lang] {
		if strings.HasPrefix(k, "err.") || strings.HasSuffix(k, "Done") || k == "attention.done" {
			m[k] = s
		}
	}
	raw, _ := json.Marshal(m)
	return string(raw)
}

// LangLink is the page's address in the other language.
func (v *view) LangLink() string {
	other := langEn
	if v.Lang == langEn {
		other = langKo
	}
	u, _ := url.Parse(v.Self)
	q := u.Query()
	q.Set("lang", other)
	u.RawQuery = q.Encode()
	return u.String()
}

// render writes a page with its Content-Security-Policy: scripts and
// styles by this answer's nonce only, nothing from elsewhere.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("admin: render", "page", name, "err", err)
		http.Error(w, "the page failed", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+v.Nonce+"'; style-src 'nonce-"+v.Nonce+
		"'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = io.Copy(w, &buf)
}

func (h *Handler) newView(w http.ResponseWriter, r *http.Request) *view {
	q := r.URL.Query()
	q.Del("lang")
	self := r.URL.Path
	if len(q) > 0 {
		self += "?" + q.Encode()
	}
	return &view{Lang: h.lang(w, r), Nonce: newNonce(), Base: h.cfg.Prefix, Self: self}
}

// page runs fn for a logged-in operator, or sends the browser to the
// login page.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request, v *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.sessionOf(r)
		if !ok {
			http.Redirect(w, r, h.cfg.Prefix+"/login", http.StatusSeeOther)
			return
		}
		v := h.newView(w, r)
		v.Operator = Operator{ID: s.OperatorID, Name: s.OperatorName}
		v.CSRF = h.csrfToken(s)
		fn(w, r, v)
	}
}

// htmlError answers a page request with an error page.
func (h *Handler) htmlError(w http.ResponseWriter, r *http.Request, status int, key string) {
	v := h.newView(w, r)
	if s, ok := h.sessionOf(r); ok {
		v.Operator, v.CSRF = Operator{ID: s.OperatorID, Name: s.OperatorName}, h.csrfToken(s)
	}
	v.Title, v.Body = key, key
	h.render(w, status, "error", v)
}

func (h *Handler) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, _ := h.classify(err)
	if status >= 500 {
		h.log.Error("admin: page failed", "err", err)
	}
	h.htmlError(w, r, status, "err."+code)
}

type loginBody struct {
	Error string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.sessionOf(r); ok {
		http.Redirect(w, r, h.cfg.Prefix+"/", http.StatusSeeOther)
		return
	}
	v := h.newView(w, r)
	v.Title, v.Body = "login.title", loginBody{}
	h.render(w, http.StatusOK, "login", v)
}

// maxForm caps a form body.
const maxForm = 4 << 10

// login checks the form's token with the Authenticator, as a bearer token,
// and starts a session. Failures count against the client's address.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r)
	v.Title = "login.title"
	addr := h.cfg.ClientAddr(r)
	if left, blocked := h.limit.blocked(addr); blocked {
		tooMany(w, left)
		v.Body = loginBody{Error: "login.limited"}
		h.render(w, http.StatusTooManyRequests, "login", v)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	token := ""
	if err := r.ParseForm(); err == nil {
		token = strings.TrimSpace(r.PostForm.Get("token"))
	}
	probe := r.Clone(r.Context())
	probe.Header = http.Header{}
	if token != "" {
		probe.Header.Set("Authorization", "Bearer "+token)
	}
	op, err := h.cfg.Auth.Authenticate(probe)
	if token == "" || err != nil {
		h.limit.failed(addr)
		h.log.Warn("admin: failed login", "addr", addr)
		v.Body = loginBody{Error: "login.failed"}
		h.render(w, http.StatusUnauthorized, "login", v)
		return
	}
	value, _ := h.newSession(op)
	h.setSessionCookie(w, r, value, int(h.cfg.SessionTTL.Seconds()))
	h.log.Info("admin: operator logged in", "operator", op.ID, "addr", addr)
	http.Redirect(w, r, h.cfg.Prefix+"/", http.StatusSeeOther)
}

// logout ends the session; it needs the session's CSRF token, so another
// site cannot log an operator out.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	s, ok := h.sessionOf(r)
	if !ok {
		http.Redirect(w, r, h.cfg.Prefix+"/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !h.validCSRF(s, r.PostForm.Get("csrf")) {
		h.htmlError(w, r, http.StatusForbidden, "err.CSRF_TOKEN_INVALID")
		return
	}
	h.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, h.cfg.Prefix+"/login", http.StatusSeeOther)
}

type dashboardBody struct {
	From, To string
	Stats    statsJSON
	Daily    template.HTML
	ByPG     template.HTML
}

func (h *Handler) dashboardPage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title, v.Nav = "nav.dashboard", "dashboard"
	from, to, err := h.statsRange(r.URL.Query())
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	st, err := h.statsFor(r.Context(), from, to)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	v.Body = dashboardBody{From: st.From, To: st.To, Stats: st, Daily: dailyChart(v.Lang, st.stats), ByPG: pgChart(v.Lang, st.stats)}
	h.render(w, http.StatusOK, "dashboard", v)
}

type paymentsBody struct {
	Query    url.Values
	Statuses []pg.Status
	Result   searchResult
	Next     string
	Error    string
}

var allStatuses = []pg.Status{pg.StatusApproving, pg.StatusApproved, pg.StatusFailed, pg.StatusUnknown,
	pg.StatusWaitingForDeposit, pg.StatusPartialCanceled, pg.StatusCanceled, pg.StatusExpired}

func (h *Handler) paymentsPage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title, v.Nav = "search.title", "payments"
	q := r.URL.Query()
	body := paymentsBody{Query: q, Statuses: allStatuses}
	f, err := parseFilter(q)
	status := http.StatusOK
	if err != nil {
		status, body.Error = http.StatusBadRequest, err.Error()
	} else if body.Result, err = h.search(r.Context(), f); err != nil {
		h.pageFail(w, r, err)
		return
	}
	if body.Result.NextCursor != "" {
		nq := url.Values{}
		for k, vs := range q {
			nq[k] = vs
		}
		nq.Set("cursor", body.Result.NextCursor)
		nq.Del("lang")
		body.Next = h.cfg.Prefix + "/payments?" + nq.Encode()
	}
	v.Body = body
	h.render(w, status, "payments", v)
}

type paymentBody struct {
	D          *detailJSON
	Refundable bool
}

func (h *Handler) paymentPage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title, v.Nav = "detail.title", "payments"
	d, err := h.detail(r.Context(), r.PathValue("id"))
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	refundable := (d.Status == pg.StatusApproved || d.Status == pg.StatusPartialCanceled) && d.BalanceAmount != "0"
	v.Body = paymentBody{D: d, Refundable: refundable}
	h.render(w, http.StatusOK, "payment", v)
}

func (h *Handler) attentionPage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title, v.Nav = "attention.title", "attention"
	items, err := h.attention(r.Context(), 0)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	v.Body = items
	h.render(w, http.StatusOK, "attention", v)
}
