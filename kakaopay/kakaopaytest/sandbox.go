package kakaopaytest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/pg/pgtest"
)

// Defaults of Config.
const (
	// TestCID is KakaoPay's test merchant code for single payments, the
	// only CID the sandbox accepts unless Config.CIDs says otherwise.
	TestCID = "TC0ONETIME"
	// DefaultSecretKey is the SECRET_KEY the sandbox accepts on the current
	// API unless Config.SecretKey is set.
	DefaultSecretKey = "DEVSANDBOX0000000000000000000000000000000"
	// DefaultAdminKey is the KakaoAK admin key the sandbox accepts on the
	// legacy API unless Config.AdminKey is set.
	DefaultAdminKey = "sandboxadminkey00000000000000000"
	// DefaultTIDTTL is how long a readied tid can be paid and approved.
	// KakaoPay does not publish the figure; the sandbox assumes the 15
	// minutes its payment window counts down.
	DefaultTIDTTL = 15 * time.Minute
)

// KakaoPay's payment statuses (order lookup "status").
const (
	StatusReady             = "READY"
	StatusSendTMS           = "SEND_TMS"
	StatusOpenPayment       = "OPEN_PAYMENT"
	StatusSelectMethod      = "SELECT_METHOD"
	StatusARSWaiting        = "ARS_WAITING"
	StatusAuthPassword      = "AUTH_PASSWORD"
	StatusIssuedSID         = "ISSUED_SID"
	StatusSuccessPayment    = "SUCCESS_PAYMENT"
	StatusPartCancelPayment = "PART_CANCEL_PAYMENT"
	StatusCancelPayment     = "CANCEL_PAYMENT"
	StatusFailAuthPassword  = "FAIL_AUTH_PASSWORD"
	StatusQuitPayment       = "QUIT_PAYMENT"
	StatusFailPayment       = "FAIL_PAYMENT"
)

// Config configures a Sandbox. The zero Config is usable for tests that
// reach the sandbox through NewServer.
type Config struct {
	// BaseURL is the sandbox's public address, prefix included
	// ("http://127.0.0.1:8080/sandbox/kakaopay"). Redirect URLs returned by
	// ready point into it, and requests whose path starts with its path are
	// served with that prefix removed, so the sandbox works mounted under a
	// prefix with or without http.StripPrefix. NewServer fills it in.
	BaseURL string
	// SecretKey is the key the current API accepts in
	// "Authorization: SECRET_KEY …" (DefaultSecretKey).
	SecretKey string
	// AdminKey is the key the legacy API accepts in
	// "Authorization: KakaoAK …" (DefaultAdminKey).
	AdminKey string
	// CIDs are the merchant codes accepted ([TestCID]).
	CIDs []string
	// Now is the sandbox's clock (time.Now). Tests move it to expire tids.
	Now func() time.Time
	// Latency delays every API call; SetLatency changes it later.
	Latency time.Duration
	// HoldMax bounds how long an answer that is to be lost is held before
	// the connection is cut; the client giving up ends the hold sooner.
	// Zero cuts the connection at once.
	HoldMax time.Duration
	// Logger receives the faults the sandbox plays (nothing is logged when
	// nil).
	Logger *slog.Logger
	// TIDTTL is how long after ready a tid can be paid and approved
	// (DefaultTIDTTL).
	TIDTTL time.Duration
	// OmitActionAmounts answers order lookups with payment_action_details
	// entries that lack amount, as some live answers do.
	OmitActionAmounts bool
}

// Options is the former name of Config.
//
// Deprecated: use Config.
type Options = Config

// Sandbox is a stateful fake of KakaoPay's online payment API (current
// JSON API and legacy form API), with the buyer's payment window, scripted
// faults and a ledger of what the PG side did. It is an http.Handler and
// implements pgtest.Sandbox; it is safe for concurrent use.
type Sandbox struct {
	cfg     Config
	mount   pgtest.Mount
	cids    map[string]bool
	log     *slog.Logger
	latency atomic.Int64
	mux     *http.ServeMux
	faults  pgtest.FaultQueue
	closed  chan struct{}
	closeMu sync.Once

	mu       sync.Mutex
	byTID    map[string]*payment
	byWindow map[string]*payment
	all      []*payment
}

var _ pgtest.Sandbox = (*Sandbox)(nil)

// New returns a sandbox to serve at cfg.BaseURL. Close it when done.
func New(cfg Config) *Sandbox {
	if cfg.SecretKey == "" {
		cfg.SecretKey = DefaultSecretKey
	}
	if cfg.AdminKey == "" {
		cfg.AdminKey = DefaultAdminKey
	}
	if len(cfg.CIDs) == 0 {
		cfg.CIDs = []string{TestCID}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TIDTTL <= 0 {
		cfg.TIDTTL = DefaultTIDTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		cfg:      cfg,
		cids:     map[string]bool{},
		log:      cfg.Logger.With("pg", "kakaopay", "sandbox", true),
		closed:   make(chan struct{}),
		byTID:    map[string]*payment{},
		byWindow: map[string]*payment{},
	}
	for _, c := range cfg.CIDs {
		s.cids[c] = true
	}
	s.mount.Set(cfg.BaseURL)
	s.latency.Store(int64(cfg.Latency))
	s.routes()
	return s
}

// Server is a Sandbox listening on a local port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the base URL of the sandbox ("http://127.0.0.1:PORT", and
	// the path of Config.BaseURL if it had one), to use as the adapter's
	// base URL.
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a loopback port. When cfg.BaseURL has a
// path (a prefix such as "/sandbox/kakaopay"), the server serves under
// that prefix on its own address. Close it when done.
func NewServer(cfg Config) *Server {
	s := New(cfg)
	srv := httptest.NewServer(s)
	base := srv.URL + s.mount.Prefix()
	s.SetBaseURL(base)
	return &Server{Sandbox: s, URL: base, srv: srv}
}

// Client returns an HTTP client configured for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close releases held answers and shuts the server down, waiting for
// requests in flight.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.Close()
}

// BaseURL returns the sandbox's public base URL: the address an adapter
// uses as its API base URL.
func (s *Sandbox) BaseURL() string { return s.mount.BaseURL() }

// SetBaseURL changes where the sandbox says it is served (the addresses of
// later payment windows), for a handler mounted before its listener's
// address was known.
func (s *Sandbox) SetBaseURL(u string) { s.mount.Set(u) }

// Close releases the answers held back (Config.HoldMax).
func (s *Sandbox) Close() { s.closeMu.Do(func() { close(s.closed) }) }

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	for _, op := range []string{"ready", "approve", "order", "cancel"} {
		m.HandleFunc("POST /online/v1/payment/"+op, s.apiHandler(apiCurrent, op))
		m.HandleFunc("POST /v1/payment/"+op, s.apiHandler(apiLegacy, op))
	}
	// The legacy lookup also answers GET with the parameters in the query.
	m.HandleFunc("GET /v1/payment/order", s.apiHandler(apiLegacy, "order"))
	m.HandleFunc("GET /v1/{window}/{view}", s.handleWindow)
	m.HandleFunc("POST /v1/{window}/pay", s.handleWindowPay)
	s.controlRoutes(m)
	s.mux = m
}

// ServeHTTP serves the API, the payment window and the test controls
// (under pgtest.ControlPrefix), with the path prefix of Config.BaseURL
// removed when the request still carries it.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, s.mount.Strip(r))
}

// payment is the sandbox's record of one tid.
type payment struct {
	seq            int
	tid            string
	cid            string
	window         string // path segment of the payment window URLs
	partnerOrderID string
	partnerUserID  string
	itemName       string
	itemCode       string
	quantity       int64
	total          int64
	taxFree        int64
	vat            int64
	approvalURL    string
	cancelURL      string
	failURL        string

	status     string
	methodType string
	pgToken    string
	fault      pgtest.Fault
	expired    bool
	createdAt  time.Time
	approvedAt time.Time
	canceledAt time.Time

	canceled        int64
	canceledTaxFree int64
	canceledVAT     int64
	approvals       int
	cancels         int
	actions         []action
}

// action is one approval or cancel (payment_action_details).
type action struct {
	aid     string
	kind    string // PAYMENT | CANCEL
	amount  int64
	at      time.Time
	payload string
}

func (p *payment) approved() bool {
	switch p.status {
	case StatusSuccessPayment, StatusPartCancelPayment, StatusCancelPayment:
		return true
	}
	return false
}

func (p *payment) remaining() int64 { return p.total - p.canceled }

// expireLocked ends an unapproved payment whose tid outlived the TTL: a
// buyer who never authenticated quit, one who did but was never approved
// failed. It reports whether the payment is expired.
func (s *Sandbox) expireLocked(p *payment, now time.Time) bool {
	if p.expired {
		return true
	}
	if p.approved() || !now.After(p.createdAt.Add(s.cfg.TIDTTL)) {
		return false
	}
	switch p.status {
	case StatusReady:
		p.status = StatusQuitPayment
	case StatusAuthPassword:
		p.status = StatusFailPayment
	default:
		return false
	}
	p.expired = true
	return true
}

// newID returns prefix followed by 19 random digits: KakaoPay's 20-character
// tid ("T…") and aid ("A…"). Random, not sequential, so a sandbox restarted
// against a database that kept old tids never hands one out again.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%019d", prefix, binary.BigEndian.Uint64(b[:])%1e19)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
