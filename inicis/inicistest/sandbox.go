package inicistest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Config configures a Sandbox. The zero Config is the INIpayTest merchant
// with Inicis's published test keys.
type Config struct {
	// BaseURL is the public address the handler is served at, e.g.
	// "http://127.0.0.1:8080/sandbox/inicis" (a trailing slash is
	// ignored). The authUrl and netCancelUrl the sandbox hands out point
	// under it, and requests whose path starts with its path are served
	// with that prefix removed. NewServer sets it; SetBaseURL changes it.
	BaseURL string
	// MID, SignKey, APIKey and APIIV are the merchant's credentials the
	// sandbox verifies signatures and hashes with; default the INIpayTest
	// test keys.
	MID, SignKey, APIKey, APIIV string
	// IDCName is the idc_name put in auth results; default "stg".
	IDCName string
	// MobileHashKey is the merchant's INIpay Mobile hash key: the mobile
	// window refuses a form without the matching P_CHKFAKE, and mobile
	// approval answers carry P_TIMESTAMP and P_CHKFAKE. Default
	// DefaultMobileHashKey.
	MobileHashKey string
	// ClientIP, when set, is the only clientIp INIAPI calls are accepted
	// with (Inicis checks the registered server address).
	ClientIP string
	// Now is the clock; default time.Now. Move it to expire tokens and
	// accounts.
	Now func() time.Time
	// Latency delays every API answer; SetLatency changes it.
	Latency time.Duration
	// HoldMax bounds how long an answer that is to be lost is held before
	// the connection is cut; the client giving up ends the hold sooner.
	// Zero cuts the connection at once.
	HoldMax time.Duration
	// Logger receives the faults the sandbox plays and the notifications
	// the shop does not acknowledge (nothing is logged when nil).
	Logger *slog.Logger
	// WebhookURL receives virtual-account deposit notifications (Inicis's
	// noti URL); empty sends none (Webhooks still hands them out).
	// SetWebhookURL changes it.
	WebhookURL string
	// WebhookClient sends them; default a client with a 10s timeout.
	WebhookClient *http.Client
	// UTF8Noti sends notification text in UTF-8; by default it is EUC-KR
	// like Inicis's legacy notifications.
	UTF8Noti bool
	// AuthTTL is how long an authToken can be approved; default 30 minutes.
	AuthTTL time.Duration
	// VBankTTL is how long an issued virtual account accepts a deposit;
	// default 72 hours.
	VBankTTL time.Duration
}

// Sandbox is a stateful fake of KG Inicis: the standard payment's approval
// and net-cancel endpoints (form POST, SHA-256 signature and verification),
// INIAPI v2 refund, partialRefund and inquiry (JSON, SHA-512 hashData,
// confirmPrice), and virtual-account deposit notifications (EUC-KR form
// POST expecting "OK"). It verifies every signature it receives the way
// Inicis does, so a wrong hash fails here as it would there. It is an
// http.Handler, implements pgtest.Sandbox, pgtest.WebhookSandbox and
// pgtest.VirtualAccountSandbox, and is safe for concurrent use.
type Sandbox struct {
	cfg     Config
	mount   pgtest.Mount
	mux     *http.ServeMux
	log     *slog.Logger
	faults  pgtest.FaultQueue
	latency atomic.Int64
	closed  chan struct{}
	closeMu sync.Once

	mu         sync.Mutex
	auths      map[string]*payment // by authToken
	byTID      map[string]*payment
	byOID      map[string]*payment // latest approval (or issued account) of an order
	partials   map[string]*payment // partial-cancel tid → payment
	all        []*payment
	seq        int
	tamper     bool // the next approval answer carries a wrong authSignature
	webhookURL string
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
	if cfg.MobileHashKey == "" {
		cfg.MobileHashKey = DefaultMobileHashKey
	}
	if cfg.WebhookClient == nil {
		cfg.WebhookClient = &http.Client{Timeout: 10 * time.Second}
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		cfg:        cfg,
		log:        cfg.Logger.With("pg", "inicis", "sandbox", true),
		closed:     make(chan struct{}),
		auths:      map[string]*payment{},
		byTID:      map[string]*payment{},
		byOID:      map[string]*payment{},
		partials:   map[string]*payment{},
		webhookURL: cfg.WebhookURL,
	}
	s.mount.Set(cfg.BaseURL)
	s.latency.Store(int64(cfg.Latency))
	s.routes()
	return s
}

// Server is a Sandbox listening on a loopback port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the sandbox's base URL.
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a loopback port. When cfg.BaseURL has a
// path (a prefix such as "/sandbox/inicis"), the server serves under that
// prefix on its own address. Close it when done.
func NewServer(cfg Config) *Server {
	sb := New(cfg)
	srv := httptest.NewServer(sb)
	base := srv.URL + sb.mount.Prefix()
	sb.SetBaseURL(base)
	return &Server{Sandbox: sb, URL: base, srv: srv}
}

// Close releases held answers, shuts the listener down and waits for
// requests in flight.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.Close()
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// BaseURL is where the sandbox says it is served.
func (s *Sandbox) BaseURL() string { return s.mount.BaseURL() }

// SetBaseURL changes where the sandbox says it is served (for handlers
// mounted after the listener is known).
func (s *Sandbox) SetBaseURL(u string) { s.mount.Set(u) }

// Close releases the answers held back (Config.HoldMax).
func (s *Sandbox) Close() { s.closeMu.Do(func() { close(s.closed) }) }

// Paths of Inicis's endpoints under BaseURL.
const (
	pathPayAuth   = "/api/payAuth"
	pathNetCancel = "/api/netCancel"
	pathV2        = "/v2/pg/"
	// pathMobilePay is the INIpay Mobile window, pathMobileAuth its
	// approval (the P_REQ_URL of its auth results).
	pathMobilePay  = "/smart/payment/"
	pathMobileAuth = "/smart/payReq.ini"
)

// DefaultMobileHashKey is the sandbox's own INIpay Mobile hash key (Inicis
// publishes none for INIpayTest); GatewayConfig hands it to the adapter.
const DefaultMobileHashKey = "inicistest-mobile-hash-key"

// INIAPI v2 request types, the last segment of their URLs.
const (
	typeRefund        = "refund"
	typePartialRefund = "partialRefund"
	typeInquiry       = "inquiry"
)

const maxRequest = 64 << 10

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST "+pathPayAuth, s.withBody(func(w http.ResponseWriter, r *http.Request, body []byte) {
		s.serveAuth(w, r, body, pgtest.OpApprove)
	}))
	m.HandleFunc("POST "+pathNetCancel, s.withBody(func(w http.ResponseWriter, r *http.Request, body []byte) {
		s.serveAuth(w, r, body, pgtest.OpNetCancel)
	}))
	for _, typ := range []string{typeRefund, typePartialRefund, typeInquiry} {
		m.HandleFunc("POST "+pathV2+typ, s.withBody(func(w http.ResponseWriter, r *http.Request, body []byte) {
			s.serveAPI(w, r, body, typ)
		}))
	}
	m.HandleFunc("POST "+pathMobilePay, s.withBody(s.serveMobileWindow))
	m.HandleFunc("POST "+pathMobileAuth, s.withBody(s.serveMobileAuth))
	s.controlRoutes(m)
	s.mux = m
}

// ServeHTTP serves Inicis's endpoints (and the test controls under
// pgtest.ControlPrefix), with the path prefix of the base URL removed when
// the request still carries it. Inicis's endpoints take POST only (405
// otherwise); any other path is 404.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, s.mount.Strip(r))
}

// withBody reads the request body (at most 64 KiB) before h.
func (s *Sandbox) withBody(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
		if err != nil || len(body) > maxRequest {
			http.Error(w, "request too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		h(w, r, body)
	}
}

// GatewayConfig is an inicis.Config that talks to this sandbox: its keys
// (the mobile hash key too), its INIAPI address, its approval addresses
// (standard and mobile) allowed for its idc_name (and only those), its
// mobile window, notifications accepted from loopback addresses.
func (s *Sandbox) GatewayConfig() inicis.Config {
	clientIP := s.cfg.ClientIP
	if clientIP == "" {
		clientIP = "127.0.0.1"
	}
	base := s.BaseURL()
	return inicis.Config{
		MID: s.cfg.MID, SignKey: s.cfg.SignKey, APIKey: s.cfg.APIKey, APIIV: s.cfg.APIIV,
		MobileHashKey: s.cfg.MobileHashKey, MobilePayURL: base + pathMobilePay,
		ClientIP: clientIP,
		BaseURL:  base,
		IDCs: map[string]inicis.Endpoints{s.cfg.IDCName: {
			AuthURL: base + pathPayAuth, NetCancelURL: base + pathNetCancel, MobileAuthURL: base + pathMobileAuth,
		}},
		NotiSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
}

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
	// mobile: paid in the INIpay Mobile window; token is then the P_TID
	// (issued at authentication), approved at P_REQ_URL.
	mobile bool
	// mobileTS is the P_TIMESTAMP its approval answer's P_CHKFAKE covers.
	mobileTS string
	// cardNoti is the P_NOTI_URL notification of a mobile card approval.
	cardNoti []byte
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
