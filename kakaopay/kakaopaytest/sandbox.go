package kakaopaytest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Defaults of Options.
const (
	// TestCID is KakaoPay's test merchant code for single payments, the
	// only CID the sandbox accepts unless Options.CIDs says otherwise.
	TestCID = "TC0ONETIME"
	// DefaultSecretKey is the SECRET_KEY the sandbox accepts on the current
	// API unless Options.SecretKey is set.
	DefaultSecretKey = "DEVSANDBOX0000000000000000000000000000000"
	// DefaultAdminKey is the KakaoAK admin key the sandbox accepts on the
	// legacy API unless Options.AdminKey is set.
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

// Options configures a Sandbox. The zero Options is usable for tests that
// reach the sandbox through NewServer.
type Options struct {
	// BaseURL is the sandbox's public address, prefix included
	// ("http://127.0.0.1:8080/sandbox/kakaopay"). Redirect URLs returned by
	// ready point into it, and requests whose path starts with its path are
	// served with that prefix removed, so the sandbox works mounted under a
	// prefix with or without http.StripPrefix.
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
	// TIDTTL is how long after ready a tid can be paid and approved
	// (DefaultTIDTTL).
	TIDTTL time.Duration
	// Latency delays every API call; SetLatency changes it later.
	Latency time.Duration
	// OmitActionAmounts answers order lookups with payment_action_details
	// entries that lack amount, as some live answers do.
	OmitActionAmounts bool
}

// Sandbox is a stateful fake of KakaoPay's online payment API (current
// JSON API and legacy form API), with the buyer's payment window, scripted
// faults and a ledger of what the PG side did. It is an http.Handler and
// implements pgtest.Sandbox; it is safe for concurrent use.
type Sandbox struct {
	base      string
	prefix    string
	secretKey string
	adminKey  string
	cids      map[string]bool
	now       func() time.Time
	ttl       time.Duration
	noAmounts bool
	latency   atomic.Int64
	mux       *http.ServeMux

	mu           sync.Mutex
	byTID        map[string]*payment
	byWindow     map[string]*payment
	all          []*payment
	cancelFaults map[string]pgtest.Fault // by partner_order_id
}

var _ pgtest.Sandbox = (*Sandbox)(nil)

// New returns a sandbox serving the KakaoPay API at opts.BaseURL.
func New(opts Options) *Sandbox {
	s := &Sandbox{
		base:         strings.TrimRight(opts.BaseURL, "/"),
		secretKey:    opts.SecretKey,
		adminKey:     opts.AdminKey,
		cids:         map[string]bool{},
		now:          opts.Now,
		ttl:          opts.TIDTTL,
		noAmounts:    opts.OmitActionAmounts,
		byTID:        map[string]*payment{},
		byWindow:     map[string]*payment{},
		cancelFaults: map[string]pgtest.Fault{},
	}
	if u, err := url.Parse(s.base); err == nil {
		s.prefix = strings.TrimRight(u.Path, "/")
	}
	if s.secretKey == "" {
		s.secretKey = DefaultSecretKey
	}
	if s.adminKey == "" {
		s.adminKey = DefaultAdminKey
	}
	if len(opts.CIDs) == 0 {
		opts.CIDs = []string{TestCID}
	}
	for _, c := range opts.CIDs {
		s.cids[c] = true
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTIDTTL
	}
	s.latency.Store(int64(opts.Latency))
	s.routes()
	return s
}

// BaseURL returns the sandbox's public base URL: the address an adapter
// uses as its API base URL.
func (s *Sandbox) BaseURL() string { return s.base }

// SetLatency delays every later API call by d (0 for none).
func (s *Sandbox) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// ScriptCancel makes the next cancel of the order's payment fail with f:
// FaultTimeout applies the cancel and loses the response,
// FaultTimeoutUnapproved loses the request without applying it,
// FaultError500 answers 500 without applying it, FaultDecline refuses it
// for good. FaultNone removes a scripted fault.
func (s *Sandbox) ScriptCancel(orderID string, f pgtest.Fault) error {
	if !f.Valid() {
		return fmt.Errorf("kakaopaytest: unknown fault %q", f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == pgtest.FaultNone {
		delete(s.cancelFaults, orderID)
	} else {
		s.cancelFaults[orderID] = f
	}
	return nil
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
	if p.approved() || !now.After(p.createdAt.Add(s.ttl)) {
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

// Pay plays the buyer in KakaoPay's window for the order's latest readied
// tid: the buyer picks a card and passes the password check, and KakaoPay
// redirects to approval_url with a pg_token, which the result carries in
// Redirect["pg_token"]. req.Fault scripts the approval that follows.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
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
	if s.expireLocked(p, s.now()) {
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

// Ledger returns the PG side's record of every readied payment, in the
// order they were readied.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]pgtest.LedgerEntry, 0, len(s.all))
	for _, p := range s.all {
		s.expireLocked(p, now)
		e := pgtest.LedgerEntry{
			OrderID:    p.partnerOrderID,
			PaymentKey: p.tid,
			Canceled:   pg.Won(p.canceled),
			Approvals:  p.approvals,
			Cancels:    p.cancels,
			Status:     ledgerStatus(p.status),
		}
		if p.approved() {
			e.Approved = pg.Won(p.total)
		}
		out = append(out, e)
	}
	return out
}

// ledgerStatus is the PG side's status in paygate's terms.
func ledgerStatus(status string) pg.Status {
	switch status {
	case StatusSuccessPayment:
		return pg.StatusApproved
	case StatusPartCancelPayment:
		return pg.StatusPartialCanceled
	case StatusCancelPayment:
		return pg.StatusCanceled
	case StatusFailPayment, StatusQuitPayment, StatusFailAuthPassword:
		return pg.StatusFailed
	default:
		return pg.StatusPending
	}
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
