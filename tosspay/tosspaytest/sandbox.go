package tosspaytest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// DefaultSecretKey is the secret key the sandbox accepts when Config sets
// none. It is a test key, so TossPayments-Test-Code is honoured.
const DefaultSecretKey = "test_sk_sandbox_paygate"

// DefaultMID is the merchant id the sandbox reports.
const DefaultMID = "tvivarepublica"

// Toss's time limits (pg-apis.md 1.1) and idempotency key lifetime (1.4).
const (
	WindowTTL      = 30 * time.Minute    // READY: the payment window
	ConfirmTTL     = 10 * time.Minute    // IN_PROGRESS: confirm must follow authentication
	IdempotencyTTL = 15 * 24 * time.Hour // a key is valid 15 days from first use
)

// VirtualAccountTTL is how long an issued virtual account waits for the
// deposit.
const VirtualAccountTTL = 7 * 24 * time.Hour

// DefaultWebhookSchedule is Toss's retry schedule: the first send, then 7
// retries after 1, 4, 16, 64, 256, 1024 and 4096 minutes.
var DefaultWebhookSchedule = []time.Duration{
	time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute,
	256 * time.Minute, 1024 * time.Minute, 4096 * time.Minute,
}

// APIVersion14 is the last version before Toss's calendar versions, still
// used by merchants who never moved on.
const APIVersion14 = "1.4"

// Config configures a sandbox. The zero Config is a test merchant with
// DefaultSecretKey, served at the root of whatever serves it.
type Config struct {
	// BaseURL is the sandbox's public address, e.g.
	// "http://127.0.0.1:8080/sandbox/tosspay". Its path is the prefix the
	// sandbox is mounted under: requests are served with or without it.
	// NewServer fills it in.
	BaseURL string
	// SecretKey is the only key accepted (DefaultSecretKey when empty).
	SecretKey string
	// MID is reported as mId (DefaultMID when empty).
	MID string
	// Now is the clock for expiries, timestamps and settlement dates
	// (time.Now when nil).
	Now func() time.Time
	// Latency is added before every API answer; SetLatency changes it.
	Latency time.Duration
	// HoldMax bounds how long an answer that is to be lost is held before
	// the connection is cut; the client giving up ends the hold sooner.
	// Zero cuts the connection at once.
	HoldMax time.Duration
	// Logger receives the faults the sandbox plays and the webhook
	// deliveries that fail (nothing is logged when nil).
	Logger *slog.Logger
	// WebhookURL receives PAYMENT_STATUS_CHANGED and DEPOSIT_CALLBACK
	// deliveries; empty sends none (Webhooks still builds them for
	// tests). SetWebhookURL changes it.
	WebhookURL string
	// WebhookSchedule is the wait before each retry of a failed delivery
	// (DefaultWebhookSchedule); compress it for tests.
	WebhookSchedule []time.Duration
	// WebhookClient sends deliveries (a client with a 10 s timeout when
	// nil, Toss's limit for the receiver's answer).
	WebhookClient *http.Client
	// FeeRate is the settlement fee as a fraction of the amount (0.032 when
	// zero).
	FeeRate decimal.Decimal
	// OmitSettlementFees answers GET /v1/settlements without fees[], as
	// some live answers do; the top-level fee still carries the total.
	OmitSettlementFees bool
	// APIVersion is the Toss API version the merchant is pinned to, which
	// shapes every Payment the sandbox writes: APIVersion14 ("1.4") names
	// institutions (card.company, virtualAccount.bank, transfer.bank),
	// calls lastTransactionKey transactionKey and writes easyPay as a bare
	// string; anything else is version 2022-11-16 with numeric codes.
	APIVersion string
}

// Options is the former name of Config.
//
// Deprecated: use Config.
type Options = Config

// Script is what the sandbox does with one payment's confirm (PayScripted,
// ScriptPayment).
type Script struct {
	Fault pgtest.Fault
	// DeclineCode is the Toss code of a FaultDecline
	// (REJECT_CARD_COMPANY when empty).
	DeclineCode string
	// Latency is added before the sandbox answers.
	Latency time.Duration
	// Reset makes FaultTimeout and FaultTimeoutUnapproved cut the
	// connection at once even when Config.HoldMax would hold the answer:
	// the client sees a reset rather than a timeout.
	Reset bool
}

// Sandbox is a stateful fake of the Toss Payments core API. It is an
// http.Handler, implements pgtest.Sandbox, pgtest.WebhookSandbox and
// pgtest.VirtualAccountSandbox, and is safe for concurrent use.
type Sandbox struct {
	cfg    Config
	mount  pgtest.Mount
	mux    *http.ServeMux
	log    *slog.Logger
	faults pgtest.FaultQueue

	mu         sync.Mutex
	payments   []*payment            // creation order
	byKey      map[string]*payment   // by paymentKey
	byOrder    map[string][]*payment // attempts per orderId, oldest first
	idem       map[idemScope]*idemEntry
	txs        []transaction
	events     map[string][]event // PAYMENT_STATUS_CHANGED news by paymentKey, in order
	deposits   map[string][]event // DEPOSIT_CALLBACK news by paymentKey, in order
	webhookURL string
	latency    atomic.Int64

	webhooks *dispatcher
	closed   chan struct{}
	closeMu  sync.Once
}

// payment is the PG side of one payment.
type payment struct {
	key, orderID, orderName string
	currency                pg.Currency
	amount, balance         decimal.Decimal
	method                  string
	status                  string
	requestedAt             time.Time
	authenticatedAt         time.Time
	approvedAt              time.Time
	secret                  string
	lastTxKey               string
	cancels                 []cancelRec
	script                  Script
	approvals               int
	failure                 *apiError
	// Virtual accounts: the account issued at confirm, its due date, and
	// whether the buyer deposited.
	va        *vaInfo
	deposited bool
}

type vaInfo struct {
	number, bank, holder string
	due                  time.Time
}

// methodVirtualAccount is Toss's method name for virtual accounts.
const methodVirtualAccount = "가상계좌"

type cancelRec struct {
	amount, refundable decimal.Decimal
	reason, txKey      string
	at                 time.Time
	// refund: money had been captured (a virtual account canceled before
	// its deposit refunds nothing).
	refund bool
}

// transaction is one approval or cancel, as GET /v1/transactions serves it.
type transaction struct {
	key, paymentKey, orderID, method, status string
	currency                                 pg.Currency
	amount                                   decimal.Decimal
	at                                       time.Time
	cancel                                   bool
}

// idemScope is what Toss keys an idempotent request by.
type idemScope struct{ key, apiKey, method, path string }

type idemEntry struct {
	firstUse time.Time
	done     bool
	status   int
	body     []byte
}

// event is one piece of webhook news about a payment.
type event struct {
	createdAt time.Time
	body      []byte
}

var (
	_ pgtest.Sandbox               = (*Sandbox)(nil)
	_ pgtest.WebhookSandbox        = (*Sandbox)(nil)
	_ pgtest.VirtualAccountSandbox = (*Sandbox)(nil)
)

// New returns a sandbox to serve at cfg.BaseURL. Close it when done.
func New(cfg Config) *Sandbox {
	if cfg.SecretKey == "" {
		cfg.SecretKey = DefaultSecretKey
	}
	if cfg.MID == "" {
		cfg.MID = DefaultMID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WebhookSchedule == nil {
		cfg.WebhookSchedule = DefaultWebhookSchedule
	}
	if cfg.FeeRate.IsZero() {
		cfg.FeeRate = decimal.RequireFromString("0.032")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		cfg:        cfg,
		log:        cfg.Logger.With("pg", "tosspay", "sandbox", true),
		byKey:      map[string]*payment{},
		byOrder:    map[string][]*payment{},
		idem:       map[idemScope]*idemEntry{},
		events:     map[string][]event{},
		deposits:   map[string][]event{},
		webhookURL: cfg.WebhookURL,
		closed:     make(chan struct{}),
	}
	s.mount.Set(cfg.BaseURL)
	s.latency.Store(int64(cfg.Latency))
	s.webhooks = newDispatcher(s)
	s.routes()
	return s
}

// Server is a sandbox listening on a loopback port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the base URL to point the adapter at (tosspay.Config.BaseURL).
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on 127.0.0.1 with a random port. When
// cfg.BaseURL has a path (a prefix such as "/sandbox/tosspay"), the server
// serves under that prefix on its own address. Close it when done.
func NewServer(cfg Config) *Server {
	s := New(cfg)
	srv := httptest.NewServer(s)
	base := srv.URL + s.mount.Prefix()
	s.SetBaseURL(base)
	return &Server{Sandbox: s, URL: base, srv: srv}
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops webhook deliveries, releases held responses and shuts the
// listener down.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.Close()
}

// BaseURL is the address adapters are pointed at (tosspay.Config.BaseURL).
func (s *Sandbox) BaseURL() string { return s.mount.BaseURL() }

// SetBaseURL changes where the sandbox says it is served, for a handler
// mounted before its listener's address was known.
func (s *Sandbox) SetBaseURL(u string) { s.mount.Set(u) }

// SecretKey is the key the sandbox accepts.
func (s *Sandbox) SecretKey() string { return s.cfg.SecretKey }

// Close stops webhook deliveries and releases held responses.
func (s *Sandbox) Close() {
	s.closeMu.Do(func() {
		close(s.closed)
		s.webhooks.wait()
	})
}

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/payments/confirm", s.api(s.handleConfirm))
	m.HandleFunc("POST /v1/payments/{paymentKey}/cancel", s.api(s.handleCancel))
	m.HandleFunc("POST /v1/virtual-accounts", s.api(s.handleIssueVirtualAccount))
	m.HandleFunc("GET /v1/payments/{paymentKey}", s.api(s.handleLookup))
	m.HandleFunc("GET /v1/payments/orders/{orderId}", s.api(s.handleLookup))
	m.HandleFunc("GET /v1/transactions", s.api(s.handleTransactions))
	m.HandleFunc("GET /v1/settlements", s.api(s.handleSettlements))
	s.controlRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if pgtest.IsControlPath(r.URL.Path) {
			pgtest.ControlError(w, http.StatusNotFound, "NOT_FOUND", "no such test-control endpoint")
			return
		}
		writeError(w, &apiError{http.StatusNotFound, "NOT_FOUND", "존재하지 않는 API입니다."})
	})
	s.mux = m
}

// ServeHTTP serves the Toss API (and the test controls under
// pgtest.ControlPrefix), with or without the BaseURL's path prefix.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, s.mount.Strip(r))
}

// expireLocked applies Toss's time limits lazily: READY lasts WindowTTL,
// IN_PROGRESS lasts ConfirmTTL.
func (s *Sandbox) expireLocked(p *payment, now time.Time) {
	switch {
	case p.status == "READY" && now.Sub(p.requestedAt) >= WindowTTL,
		p.status == "IN_PROGRESS" && now.Sub(p.authenticatedAt) >= ConfirmTTL,
		p.status == "WAITING_FOR_DEPOSIT" && p.va != nil && !now.Before(p.va.due):
		p.status = "EXPIRED"
		s.newsLocked(p, now)
	}
}

// latestLocked is the order's latest payment attempt, or nil.
func (s *Sandbox) latestLocked(orderID string) *payment {
	ps := s.byOrder[orderID]
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}

// pgStatus is the sandbox's own reading of Toss statuses as pg statuses,
// kept apart from the adapter's so that a mapping bug shows up as a
// mismatch.
func pgStatus(s string) pg.Status {
	switch s {
	case "DONE":
		return pg.StatusApproved
	case "CANCELED":
		return pg.StatusCanceled
	case "PARTIAL_CANCELED":
		return pg.StatusPartialCanceled
	case "ABORTED":
		return pg.StatusFailed
	case "EXPIRED":
		return pg.StatusExpired
	case "WAITING_FOR_DEPOSIT":
		return pg.StatusWaitingForDeposit
	default:
		return pg.StatusPending
	}
}

func mustMoney(d decimal.Decimal, c pg.Currency) pg.Money {
	m, err := pg.NewMoney(d, c)
	if err != nil {
		// Amounts only come from validated Money and subtractions bounded by
		// the balance check.
		panic(fmt.Sprintf("tosspaytest: invariant broken: %v", err))
	}
	return m
}

// validOrderID is the rule of Toss's payment window (its SDK refuses
// anything else): 6 to 64 ASCII letters, digits, '-' or '_'.
func validOrderID(id string) bool {
	if len(id) < 6 || len(id) > 64 {
		return false
	}
	return idChars(id)
}

// validIssuedOrderID is what the sandbox accepts as the orderId of a
// virtual account issued through POST /v1/virtual-accounts. Live Toss
// accepted "71" there (sent as a JSON number), so the window's 6-character
// minimum does not apply: 1 to 64 ASCII letters, digits, '-' or '_'.
func validIssuedOrderID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return idChars(id)
}

func idChars(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	s = strings.NewReplacer("-", "a", "_", "b").Replace(s)
	return s[:n]
}
