package inicistest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Config configures a Sandbox. The zero Config is the INIpayTest merchant
// with Inicis's published test keys.
type Config struct {
	// BaseURL is the public address the handler is served at, without a
	// trailing slash, e.g. "http://127.0.0.1:8080/sandbox/inicis". The
	// authUrl and netCancelUrl the sandbox hands out point under it.
	// NewServer sets it.
	BaseURL string
	// MID, SignKey, APIKey and APIIV are the merchant's credentials the
	// sandbox verifies signatures and hashes with; default the INIpayTest
	// test keys.
	MID, SignKey, APIKey, APIIV string
	// IDCName is the idc_name put in auth results; default "stg".
	IDCName string
	// ClientIP, when set, is the only clientIp INIAPI calls are accepted
	// with (Inicis checks the registered server address).
	ClientIP string
	// NotifyURL receives virtual-account deposit notifications.
	NotifyURL string
	// NotifyClient sends them; default a client with a 10s timeout.
	NotifyClient *http.Client
	// UTF8Noti sends notification text in UTF-8; by default it is EUC-KR
	// like Inicis's legacy notifications.
	UTF8Noti bool
	// AuthTTL is how long an authToken can be approved; default 30 minutes.
	AuthTTL time.Duration
	// VBankTTL is how long an issued virtual account accepts a deposit;
	// default 72 hours.
	VBankTTL time.Duration
	// Now is the clock; default time.Now. Move it to expire tokens and
	// accounts.
	Now func() time.Time
}

// Op names a sandbox API for scripting faults with FailNext.
type Op string

// Ops that FailNext scripts.
const (
	OpApprove       Op = "approve"
	OpNetCancel     Op = "netCancel"
	OpRefund        Op = "refund"
	OpPartialRefund Op = "partialRefund"
	OpInquiry       Op = "inquiry"
)

// Sandbox is a stateful fake of KG Inicis: the standard payment's approval
// and net-cancel endpoints (form POST, SHA-256 signature and verification),
// INIAPI v2 refund, partialRefund and inquiry (JSON, SHA-512 hashData,
// confirmPrice), and virtual-account deposit notifications (EUC-KR form
// POST expecting "OK"). It verifies every signature it receives the way
// Inicis does, so a wrong hash fails here as it would there. It implements
// pgtest.Sandbox and is safe for concurrent use.
type Sandbox struct {
	cfg Config

	mu       sync.Mutex
	auths    map[string]*payment // by authToken
	byTID    map[string]*payment
	byOID    map[string]*payment // latest approval (or issued account) of an order
	partials map[string]*payment // partial-cancel tid → payment
	all      []*payment
	seq      int
	latency  time.Duration
	faults   map[Op][]pgtest.Fault
	tamper   bool // the next approval answer carries a wrong authSignature
}

var _ pgtest.Sandbox = (*Sandbox)(nil)

// New returns a sandbox; serve it (its ServeHTTP) at cfg.BaseURL.
func New(cfg Config) *Sandbox {
	if cfg.MID == "" {
		cfg.MID = inicis.TestMID
	}
	if cfg.SignKey == "" {
		cfg.SignKey = inicis.TestSignKey
	}
	if cfg.APIKey == "" {
		cfg.APIKey = inicis.TestAPIKey
	}
	if cfg.APIIV == "" {
		cfg.APIIV = inicis.TestAPIIV
	}
	if cfg.IDCName == "" {
		cfg.IDCName = "stg"
	}
	if cfg.NotifyClient == nil {
		cfg.NotifyClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.AuthTTL <= 0 {
		cfg.AuthTTL = 30 * time.Minute
	}
	if cfg.VBankTTL <= 0 {
		cfg.VBankTTL = 72 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Sandbox{
		cfg:      cfg,
		auths:    map[string]*payment{},
		byTID:    map[string]*payment{},
		byOID:    map[string]*payment{},
		partials: map[string]*payment{},
		faults:   map[Op][]pgtest.Fault{},
	}
}

// SetBaseURL changes where the sandbox says it is served (for handlers
// mounted after the listener is known).
func (s *Sandbox) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.BaseURL = strings.TrimRight(u, "/")
}

// SetNotifyURL sets where deposit notifications go.
func (s *Sandbox) SetNotifyURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.NotifyURL = u
}

// SetLatency delays every API answer by d (the wait ends early when the
// caller gives up).
func (s *Sandbox) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext scripts the next call of op to fail with f (FaultTimeout: the
// call takes effect and the answer is lost; FaultTimeoutUnapproved: no
// effect, no answer; FaultError500: a 500 without effect; FaultDecline: a
// refusal). Calls queue up in order.
func (s *Sandbox) FailNext(op Op, f pgtest.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], f)
}

// TamperNextApproval makes the next approval answer carry an authSignature
// that is not Inicis's, as a forged or tampered answer would. The approval
// itself happens (the money is captured until the shop net-cancels).
func (s *Sandbox) TamperNextApproval() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = true
}

func (s *Sandbox) takeFault(op Op) pgtest.Fault {
	q := s.faults[op]
	if len(q) == 0 {
		return pgtest.FaultNone
	}
	s.faults[op] = q[1:]
	return q[0]
}

// GatewayConfig is an inicis.Config that talks to this sandbox: its keys,
// its INIAPI address, its approval addresses allowed for its idc_name (and
// only those), notifications accepted from loopback addresses.
func (s *Sandbox) GatewayConfig() inicis.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	clientIP := s.cfg.ClientIP
	if clientIP == "" {
		clientIP = "127.0.0.1"
	}
	return inicis.Config{
		MID: s.cfg.MID, SignKey: s.cfg.SignKey, APIKey: s.cfg.APIKey, APIIV: s.cfg.APIIV,
		ClientIP: clientIP,
		BaseURL:  s.cfg.BaseURL,
		IDCs: map[string]inicis.Endpoints{s.cfg.IDCName: {
			AuthURL: s.cfg.BaseURL + pathPayAuth, NetCancelURL: s.cfg.BaseURL + pathNetCancel,
		}},
		NotiSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
}

// Server is a Sandbox listening on a loopback port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the sandbox's base URL.
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a loopback port; Close stops it.
func NewServer(cfg Config) *Server {
	sb := New(cfg)
	srv := httptest.NewServer(sb)
	sb.SetBaseURL(srv.URL)
	return &Server{Sandbox: sb, URL: srv.URL, srv: srv}
}

// Close shuts the listener down and waits for requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// state of one payment attempt at the sandbox PG.
type payment struct {
	oid         string
	price       int64
	method      string // "Card" or "VBank"
	fault       pgtest.Fault
	token       string
	authAt      time.Time
	used        bool // approval attempted with the token
	tid         string
	status      pg.Status
	approved    int64 // captured
	canceled    int64
	approvals   int
	cancels     int
	applAt      time.Time
	canceledAt  time.Time
	parts       []partCancel
	vact        *vaccount
	netCanceled bool
}

type partCancel struct {
	tid   string
	price int64
	at    time.Time
}

type vaccount struct {
	bank, num, name string
	due             time.Time
	depositAt       time.Time // when the buyer paid; zero before
	depositTID      string    // the deposit's own tid (ININPGVBNK…), not the payment's
	depositNoti     []byte    // the deposit notification, resent as is
	reversed        bool      // the bank canceled the deposit (type_msg 0400)
	noti            []byte    // the latest notification about the account
}

func (p *payment) remaining() int64 { return p.approved - p.canceled }

// expire moves an issued virtual account past its due time to EXPIRED.
func (s *Sandbox) expire(p *payment, now time.Time) {
	if p.status == pg.StatusWaitingForDeposit && p.vact != nil && now.After(p.vact.due) {
		p.status = pg.StatusExpired
	}
}

// Ledger returns the PG-side record of every payment attempt, in creation
// order.
func (s *Sandbox) Ledger() []pgtest.LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]pgtest.LedgerEntry, 0, len(s.all))
	for _, p := range s.all {
		s.expire(p, now)
		e := pgtest.LedgerEntry{
			OrderID: p.oid, PaymentKey: p.tid, Approvals: p.approvals, Cancels: p.cancels,
			Status: p.status, Canceled: pg.Won(p.canceled),
		}
		if p.approvals > 0 {
			e.Approved = pg.Won(p.approved)
		}
		out = append(out, e)
	}
	return out
}

// ErrNotPrepared is returned by Pay for a request the window would refuse.
var ErrNotPrepared = errors.New("inicistest: payment request refused")

// Pay plays the buyer: it opens the payment window for the order with a
// correctly signed form, authenticates by card and returns what Inicis's
// POST to the shop's returnUrl carries. The approval of this payment fails
// as req.Fault says.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req, "Card")
}

// PayVirtualAccount is Pay for a virtual account: the approval issues an
// account (WAITING_FOR_DEPOSIT) and Deposit later pays into it.
func (s *Sandbox) PayVirtualAccount(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req, "VBank")
}

func (s *Sandbox) pay(ctx context.Context, req pgtest.PayRequest, method string) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if !req.Fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("%w: unknown fault %q", ErrNotPrepared, req.Fault)
	}
	if !validOID(req.OrderID) {
		return pgtest.PayResult{}, fmt.Errorf("%w: order id must be 1..40 bytes of letters, digits, '-', '_' and '.'", ErrNotPrepared)
	}
	if req.Amount.Currency() != pg.KRW || !req.Amount.IsPositive() {
		return pgtest.PayResult{}, fmt.Errorf("%w: amount must be positive won, got %s", ErrNotPrepared, req.Amount)
	}
	return s.authenticate(req.OrderID, req.Amount.Int64(), method, req.Fault), nil
}

// validOID is the payment window's rule for an order id: 1 to 40 bytes of
// letters, digits, '-', '_' and '.'.
func validOID(oid string) bool {
	if oid == "" || len(oid) > 40 {
		return false
	}
	for _, c := range []byte(oid) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// goodnameLen is an order name's length as the window counts it: a byte
// per ASCII character, two per other character (EUC-KR).
func goodnameLen(name string) int {
	n := 0
	for _, r := range name {
		if r < 0x80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// authenticate records a buyer authentication and builds the redirect.
func (s *Sandbox) authenticate(oid string, price int64, method string, fault pgtest.Fault) pgtest.PayResult {
	token := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &payment{oid: oid, price: price, method: method, fault: fault, token: token,
		authAt: s.cfg.Now(), status: pg.StatusPending}
	s.auths[token] = p
	s.all = append(s.all, p)
	return pgtest.PayResult{Redirect: map[string]string{
		"resultCode":   "0000",
		"resultMsg":    "성공",
		"mid":          s.cfg.MID,
		"orderNumber":  oid,
		"authToken":    token,
		"authUrl":      s.cfg.BaseURL + pathPayAuth,
		"netCancelUrl": s.cfg.BaseURL + pathNetCancel,
		"idc_name":     s.cfg.IDCName,
		"charset":      "UTF-8",
		"merchantData": "",
	}}
}

func randomToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	// Standard base64 keeps '+', '/' and '=' in tokens, as Inicis's do, so
	// form encoding mistakes show.
	return base64.StdEncoding.EncodeToString(b)
}

// nextTID makes a 40-byte TID: a 10-byte kind prefix, the MID padded to 10,
// the KST time and a sequence number. Callers hold mu.
func (s *Sandbox) nextTID(prefix string, now time.Time) string {
	s.seq++
	mid := (s.cfg.MID + "0000000000")[:10]
	return fmt.Sprintf("%s%s%s%06d", prefix, mid, now.In(kst).Format("20060102150405"), s.seq%1000000)
}

var kst = time.FixedZone("KST", 9*60*60)
