// Package admin is the operators' console: an http.Handler a host mounts
// (at /admin/ by default) that serves a JSON API under /admin/api/ and web
// pages for people — payment search, a payment's whole story (cancels,
// events, sagas, ledger, webhooks, operators' actions), manual refunds, the
// attention queue and a dashboard.
//
//	auth, _ := admin.NewTokenAuthenticator(token, admin.Operator{ID: "ops", Name: "Operations"})
//	console, _ := admin.New(admin.Config{Paygate: pay, Store: adminstore.New(db), Auth: auth})
//	mux.Handle("/admin/", console)
//
// Every API route needs an operator: "Authorization: Bearer" checked by the
// host's Authenticator, or the page's session cookie, in which case a
// state-changing call must also carry the session's CSRF token (403
// without). A wrong or missing credential is 401; failed logins and bearer
// tokens are rate-limited per client address (429 with Retry-After). The
// pages send a Content-Security-Policy without 'unsafe-inline' (scripts and
// styles run by nonce), nosniff and frame-ancestors 'none', and escape
// everything a buyer or a PG wrote. Refunds go through paygate's Cancel
// with the Idempotency-Key middleware, and every refund, retry and
// resolution is recorded in the payment's timeline with the operator.
package admin

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/settlement/settlementhttp"
)

// Config configures the console. Paygate, Store and Auth are required.
type Config struct {
	// Paygate is the payment flow operators act through.
	Paygate *paygate.Paygate
	// Store reads what the console shows (store/adminstore).
	Store Store
	// Auth checks operators' credentials.
	Auth Authenticator
	// Prefix is where the console is mounted; default "/admin". Routes
	// are Prefix+"/", Prefix+"/api/…" and the pages under Prefix.
	Prefix string
	// SessionKey signs the page's session cookies and CSRF tokens; at
	// least 32 bytes. Processes that share it share sessions. Default: a
	// random key per New, so sessions end with the process.
	SessionKey []byte
	// SessionTTL is how long a login lasts; default 8h.
	SessionTTL time.Duration
	// SecureCookies marks the console's cookies Secure on every answer.
	// Without it they are Secure when the request came over TLS; set it
	// when TLS ends at a proxy in front of the host.
	SecureCookies bool
	// LoginLimit failed logins (or bearer tokens) per client address
	// within LoginWindow lock that address out until the window ends;
	// defaults 10 within 15m.
	LoginLimit  int
	LoginWindow time.Duration
	// ClientAddr names a request's client for the login limit; default
	// the connection's peer address. Behind a proxy, return the address
	// the proxy you trust saw, never a header a client can set.
	ClientAddr func(*http.Request) string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the console. It is safe for concurrent use.
type Handler struct {
	cfg        Config
	pay        *paygate.Paygate
	store      Store
	key        []byte
	cookieName string
	limit      *limiter
	mux        *http.ServeMux
	log        *slog.Logger
	static     fs.FS
}

// New checks cfg and builds the console.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Paygate == nil:
		return nil, errors.New("admin: Config.Paygate is required")
	case cfg.Store == nil:
		return nil, errors.New("admin: Config.Store is required")
	case cfg.Auth == nil:
		return nil, errors.New("admin: Config.Auth is required")
	case cfg.SessionKey != nil && len(cfg.SessionKey) < 32:
		return nil, errors.New("admin: Config.SessionKey must be at least 32 bytes")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/admin"
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.LoginLimit <= 0 {
		cfg.LoginLimit = 10
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerAddr
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key := cfg.SessionKey
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg, pay: cfg.Paygate, store: cfg.Store, key: key, log: cfg.Logger, static: static,
		cookieName: "paygate_admin",
		limit:      &limiter{limit: cfg.LoginLimit, window: cfg.LoginWindow, now: cfg.Now, fails: map[string]*failWindow{}},
	}
	h.routes()
	return h, nil
}

func (h *Handler) now() time.Time { return h.cfg.Now() }

func (h *Handler) routes() {
	p := h.cfg.Prefix
	mux := http.NewServeMux()
	api := func(pattern string, fn func(http.ResponseWriter, *http.Request, Operator)) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+p+path, h.apiAuth(fn))
	}
	api("GET /api/payments", h.listPayments)
	api("GET /api/payments/{id}", h.getPayment)
	// The operator is checked before the Idempotency-Key is claimed: a
	// stranger's request claims nothing.
	mux.Handle("POST "+p+"/api/payments/{id}/refund", h.apiAuth(h.withKey(h.refund)))
	api("GET /api/attention", h.listAttention)
	api("POST /api/attention/{kind}/{id}/retry", h.retry)
	api("POST /api/attention/{kind}/{id}/resolve", h.resolve)
	api("GET /api/stats", h.stats)
	// The finance team's reports, downloads and reconciliation runs
	// (settlement/settlementhttp), behind the same operator check.
	if led, rec := h.cfg.Paygate.Ledger(), h.cfg.Paygate.Reconciler(); led != nil && rec != nil {
		if sh, err := settlementhttp.New(settlementhttp.Config{Ledger: led, Reconciler: rec, Prefix: p + "/api"}); err == nil {
			serve := func(w http.ResponseWriter, r *http.Request, _ Operator) { sh.ServeHTTP(w, r) }
			mux.Handle("GET "+p+"/api/settlements/", h.apiAuth(serve))
			mux.Handle("GET "+p+"/api/reconciliation", h.apiAuth(serve))
			mux.Handle("POST "+p+"/api/reconciliation", h.apiAuth(serve))
		}
	}
	mux.HandleFunc(p+"/api/", func(w http.ResponseWriter, r *http.Request) {
		// A route of another method is 405, anything else 404.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != p+"/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "this method is not allowed here")
			return
		}
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
	})

	mux.HandleFunc("GET "+p+"/{$}", h.page(h.dashboardPage))
	mux.HandleFunc("GET "+p+"/payments", h.page(h.paymentsPage))
	mux.HandleFunc("GET "+p+"/payments/{id}", h.page(h.paymentPage))
	mux.HandleFunc("GET "+p+"/attention", h.page(h.attentionPage))
	mux.HandleFunc("GET "+p+"/login", h.loginPage)
	mux.HandleFunc("POST "+p+"/login", h.login)
	mux.HandleFunc("POST "+p+"/logout", h.logout)
	mux.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", http.FileServerFS(h.static)))
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.htmlError(w, r, http.StatusNotFound, "err.NOT_FOUND")
	})
	h.mux = mux
}

// ServeHTTP serves the console. Every answer says nosniff and is not
// cached; pages add their Content-Security-Policy.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, h.cfg.Prefix+"/static/") {
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	}
	h.mux.ServeHTTP(w, r)
}

// apiAuth runs fn for an operator: a bearer token the Authenticator
// accepts, or a session cookie (plus its CSRF token for anything but GET).
func (h *Handler) apiAuth(fn func(http.ResponseWriter, *http.Request, Operator)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Authorization")) > 0 {
			addr := h.cfg.ClientAddr(r)
			if left, blocked := h.limit.blocked(addr); blocked {
				tooMany(w, left)
				writeError(w, http.StatusTooManyRequests, "TOO_MANY_ATTEMPTS", "too many failed attempts from this address; try again later")
				return
			}
			op, err := h.cfg.Auth.Authenticate(r)
			if err != nil {
				h.limit.failed(addr)
				unauthorized(w)
				return
			}
			fn(w, r, op)
			return
		}
		s, ok := h.sessionOf(r)
		if !ok {
			unauthorized(w)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !h.validCSRF(s, r.Header.Get("X-CSRF-Token")) {
			writeError(w, http.StatusForbidden, "CSRF_TOKEN_INVALID", "a state-changing call from the page needs its CSRF token (X-CSRF-Token)")
			return
		}
		fn(w, r, Operator{ID: s.OperatorID, Name: s.OperatorName})
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="paygate operators"`)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "this route needs an operator: Authorization: Bearer <token>, or log in on the page")
}

type operatorKey struct{}

// withKey puts the Idempotency-Key middleware between the operator check
// and fn.
func (h *Handler) withKey(fn func(http.ResponseWriter, *http.Request, Operator)) func(http.ResponseWriter, *http.Request, Operator) {
	inner := h.pay.Idempotency().Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, _ := r.Context().Value(operatorKey{}).(Operator)
		fn(w, r, op)
	}))
	return func(w http.ResponseWriter, r *http.Request, op Operator) {
		inner.ServeHTTP(w, r.WithContext(contextWith(r, op)))
	}
}

// newNonce returns a fresh CSP nonce.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
