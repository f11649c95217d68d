package tosspay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Name is the adapter's registry name.
const Name = "tosspay"

// DefaultBaseURL is the Toss Payments core API.
const DefaultBaseURL = "https://api.tosspayments.com"

// Config configures a Gateway. SecretKey is required; every other field
// has a working default.
type Config struct {
	// SecretKey authenticates every call (HTTP Basic, the key as user
	// name): the API secret key of the Toss developer centre, test_sk_… or
	// live_sk_…. Required; never logged.
	SecretKey string
	// BaseURL is the API host. Default DefaultBaseURL; point it at a
	// sandbox in tests ("http://127.0.0.1:8080/sandbox/tosspay"). A
	// trailing slash is ignored.
	BaseURL string

	// TestCode is sent as TossPayments-Test-Code on every call: a test key
	// (test_sk_…) then answers with that error code; live keys ignore it.
	// Default none. ContextWithTestCode sets it for a single call.
	TestCode string
	// AcceptLanguage is sent as Accept-Language ("en-US" gets English
	// messages and method names). Default none: Korean.
	AcceptLanguage string
	// ReportTimeout bounds each attempt of the transaction and settlement
	// report calls. Default pghttp.ReportTimeout (60 s: Toss says they may
	// take that long).
	ReportTimeout time.Duration
	// ReportPageSize is the page size of report calls. Default 1000; Toss
	// allows up to 5000.
	ReportPageSize int

	// HTTPClient sends the requests (its Transport in particular, so tests
	// and sandboxes can plug in). Default pghttp's pooled client.
	HTTPClient *http.Client
	// Timeout bounds each attempt of approve, cancel and lookup calls.
	// Default pghttp.DefaultTimeout (10 s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call, the first included; 1
	// sends once. Default pghttp.DefaultMaxAttempts (3): a lost answer
	// costs at most three attempt timeouts before the call is
	// pg.KindUnknown. Only what Toss makes safe is resent (see
	// RetryPolicy).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between attempts. Defaults
	// pghttp.DefaultBackoffMin (100 ms) and pghttp.DefaultBackoffMax (5 s).
	BackoffMin, BackoffMax time.Duration
	// Logger receives one line per call (attempts at Debug, failures at
	// Warn), with the secret key and Authorization redacted. Default nil:
	// nothing is logged.
	Logger *slog.Logger
}

// LogValue keeps the secret key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("baseURL", c.BaseURL), slog.String("secretKey", redact(c.SecretKey)))
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// Gateway is the Toss Payments core API v1 adapter. It implements
// pg.Gateway, pg.PrepareValidator, pg.WebhookParser, pg.TransactionReporter
// and pg.SettlementReporter, and is safe for concurrent use.
type Gateway struct {
	baseURL      string
	auth         string // "Basic base64(secretKey:)"
	testCode     string
	acceptLang   string
	client       *pghttp.Client
	reportClient *pghttp.Client
	reportPage   int
}

var (
	_ pg.Gateway             = (*Gateway)(nil)
	_ pg.PrepareValidator    = (*Gateway)(nil)
	_ pg.WebhookParser       = (*Gateway)(nil)
	_ pg.TransactionReporter = (*Gateway)(nil)
	_ pg.SettlementReporter  = (*Gateway)(nil)
)

// Toss's limits on report pages.
const (
	defaultReportPageSize = 1000
	maxReportPageSize     = 5000
)

// New checks cfg and returns the adapter. A field that is wrong is named in
// the error ("tosspay: Config.SecretKey is required").
func New(cfg Config) (*Gateway, error) {
	secretKey := strings.TrimSpace(cfg.SecretKey)
	if secretKey == "" {
		return nil, errors.New("tosspay: Config.SecretKey is required")
	}
	baseURL := strings.TrimRight(cfg.BaseURL, "/")
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tosspay: Config.BaseURL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	reportPage := cfg.ReportPageSize
	if reportPage == 0 {
		reportPage = defaultReportPageSize
	}
	if reportPage < 0 || reportPage > maxReportPageSize {
		return nil, fmt.Errorf("tosspay: Config.ReportPageSize %d outside 1..%d", cfg.ReportPageSize, maxReportPageSize)
	}
	if cfg.ReportTimeout < 0 {
		return nil, fmt.Errorf("tosspay: Config.ReportTimeout %s is negative", cfg.ReportTimeout)
	}
	if err := checkTransport(cfg.Timeout, cfg.MaxAttempts, cfg.BackoffMin, cfg.BackoffMax); err != nil {
		return nil, fmt.Errorf("tosspay: %w", err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(secretKey + ":"))
	mk := func(timeout time.Duration) *pghttp.Client {
		c := pghttp.New(Name)
		c.HTTPClient = cfg.HTTPClient
		c.Logger = cfg.Logger
		c.Secrets = []string{secretKey, auth}
		c.Timeout = timeout
		c.MaxAttempts = cfg.MaxAttempts
		c.BackoffMin, c.BackoffMax = cfg.BackoffMin, cfg.BackoffMax
		c.CheckRetry = RetryPolicy
		return c
	}
	reportTO := cfg.ReportTimeout
	if reportTO == 0 {
		reportTO = pghttp.ReportTimeout
	}
	return &Gateway{
		baseURL:      baseURL,
		auth:         "Basic " + auth,
		testCode:     cfg.TestCode,
		acceptLang:   cfg.AcceptLanguage,
		client:       mk(cfg.Timeout),
		reportClient: mk(reportTO),
		reportPage:   reportPage,
	}, nil
}

// checkTransport refuses transport settings that mean nothing; zero values
// take pghttp's defaults.
func checkTransport(timeout time.Duration, maxAttempts int, backoffMin, backoffMax time.Duration) error {
	switch {
	case timeout < 0:
		return fmt.Errorf("Config.Timeout %s is negative", timeout)
	case maxAttempts < 0:
		return fmt.Errorf("Config.MaxAttempts %d is negative", maxAttempts)
	case backoffMin < 0:
		return fmt.Errorf("Config.BackoffMin %s is negative", backoffMin)
	case backoffMax < 0:
		return fmt.Errorf("Config.BackoffMax %s is negative", backoffMax)
	case backoffMin > 0 && backoffMax > 0 && backoffMax < backoffMin:
		return fmt.Errorf("Config.BackoffMax %s is below Config.BackoffMin %s", backoffMax, backoffMin)
	}
	return nil
}

type testCodeKey struct{}

// ContextWithTestCode makes the calls made with ctx send
// TossPayments-Test-Code: code, overriding Config.TestCode.
func ContextWithTestCode(ctx context.Context, code string) context.Context {
	return context.WithValue(ctx, testCodeKey{}, code)
}

// RetryPolicy is pghttp.DefaultRetryPolicy plus Toss's own rule: a 409
// IDEMPOTENT_REQUEST_PROCESSING means the first request with the same
// Idempotency-Key is still running, and Toss says to send it again with the
// same key to get its result.
func RetryPolicy(ctx context.Context, a pghttp.Attempt) bool {
	if a.Err == nil && a.StatusCode == http.StatusConflict && a.Request != nil && a.Request.Idempotent {
		var e errorJSON
		if json.Unmarshal(a.Body, &e) == nil && e.Code == "IDEMPOTENT_REQUEST_PROCESSING" {
			return ctx.Err() == nil
		}
	}
	return pghttp.DefaultRetryPolicy(ctx, a)
}

// Name returns "tosspay".
func (g *Gateway) Name() string { return Name }

// Capabilities declares what Toss supports: partial cancels with the
// refundableAmount guard, Idempotency-Key on every POST, lookup by orderId,
// payment webhooks, virtual accounts, KRW/USD/JPY, and a 100 KRW minimum
// (cards; accounts need 200 KRW).
func (g *Gateway) Capabilities() pg.Capabilities {
	return pg.Capabilities{
		PartialCancel:   true,
		IdempotencyKeys: true,
		LookupByOrderID: true,
		Webhooks:        true,
		VirtualAccounts: true,
		Currencies:      []pg.Currency{pg.KRW, pg.USD, pg.JPY},
		Methods: []pg.Method{pg.MethodCard, pg.MethodVirtualAccount, pg.MethodTransfer,
			pg.MethodMobilePhone, pg.MethodEasyPay, pg.MethodOther},
		MinAmount: pg.Won(100),
	}
}

// maxIdempotencyKey is Toss's limit on Idempotency-Key.
const maxIdempotencyKey = 300

// idemKey is the Idempotency-Key of op on paygate's id: readable while it
// fits Toss's limit, a hash of the id beyond it.
func idemKey(op, id string) string {
	k := "paygate-" + op + "-" + id
	if len(k) <= maxIdempotencyKey {
		return k
	}
	sum := sha256.Sum256([]byte(id))
	return "paygate-" + op + "-sha256-" + hex.EncodeToString(sum[:])
}

// send performs one Toss call. idemKey, when set, goes in Idempotency-Key and
// marks the call safe to resend.
func (g *Gateway) send(ctx context.Context, c *pghttp.Client, op, method, path string, query url.Values, body []byte, idemKey string) (*pghttp.Response, error) {
	return c.Do(ctx, g.request(ctx, op, method, path, query, body, idemKey))
}

// sendReport GETs a report page with the report client and its larger cap.
func (g *Gateway) sendReport(ctx context.Context, op, path string, query url.Values) (*pghttp.Response, error) {
	r := g.request(ctx, op, http.MethodGet, path, query, nil, "")
	r.MaxResponseBytes = reportBodyCap
	return g.reportClient.Do(ctx, r)
}

func (g *Gateway) request(ctx context.Context, op, method, path string, query url.Values, body []byte, idemKey string) *pghttp.Request {
	u := g.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	h := http.Header{"Authorization": {g.auth}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		h.Set("Idempotency-Key", idemKey)
	}
	code := g.testCode
	if v, ok := ctx.Value(testCodeKey{}).(string); ok {
		code = v
	}
	if code != "" {
		h.Set("TossPayments-Test-Code", code)
	}
	if g.acceptLang != "" {
		h.Set("Accept-Language", g.acceptLang)
	}
	return &pghttp.Request{Op: op, Method: method, URL: u, Header: h, Body: body, Idempotent: idemKey != ""}
}

func invalidErr(op, msg string) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: "INVALID_ARGUMENT", Message: msg}
}

func validateAmount(op, field string, m pg.Money) error {
	switch {
	case !m.IsSet():
		return invalidErr(op, field+" is required")
	case !m.IsPositive():
		return invalidErr(op, field+" must be positive")
	case m.Currency() != pg.KRW && m.Currency() != pg.USD && m.Currency() != pg.JPY:
		return invalidErr(op, fmt.Sprintf("%s: Toss does not take %s", field, m.Currency()))
	}
	return nil
}

// LogValue keeps the secret key out of logs: only the name and base URL.
func (g *Gateway) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pg", Name), slog.String("baseURL", g.baseURL))
}

// String keeps the secret key out of fmt output.
func (g *Gateway) String() string { return "tosspay.Gateway(" + g.baseURL + ")" }

// GoString keeps the secret key out of %#v.
func (g *Gateway) GoString() string { return g.String() }
