package kakaopay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Name is the adapter's registry name.
const Name = "kakaopay"

// TestCID is KakaoPay's test merchant code for single payments; it works
// with the dev secret key.
const TestCID = "TC0ONETIME"

// API hosts.
const (
	// DefaultBaseURL is KakaoPay's current online payment API.
	DefaultBaseURL = "https://open-api.kakaopay.com"
	// LegacyBaseURL is the legacy API of Config.Legacy.
	LegacyBaseURL = "https://kapi.kakao.com"
)

// Operation names in errors, as pg.Error.Op.
const (
	opPrepare = "prepare"
	opApprove = "approve"
	opCancel  = "cancel"
	opLookup  = "lookup"
)

// Keys of Prepared.Data (and of Payment.Data), handed back by the flow in
// ApproveRequest, CancelRequest and LookupRequest.Prepared.
const (
	DataTID            = "tid"
	DataCID            = "cid"
	DataPartnerOrderID = "partner_order_id"
	DataPartnerUserID  = "partner_user_id"
	// DataAID is the aid of the approval (Payment.Data only).
	DataAID = "aid"
)

// Config configures a Gateway. CID and SecretKey are required; every other
// field has a working default.
type Config struct {
	// CID is the merchant code (TestCID for tests). Required.
	CID string
	// CIDSecret is the merchant code secret, for CIDs that have one.
	// Default none; never logged.
	CIDSecret string
	// SecretKey authenticates every call: the SECRET_KEY of the current
	// API, or, with Legacy, the service app's admin key sent as KakaoAK.
	// Required; never logged.
	SecretKey string
	// BaseURL is the API host. Default DefaultBaseURL, or LegacyBaseURL
	// with Legacy; point it at a sandbox in tests. A trailing slash is
	// ignored.
	BaseURL string

	// Legacy switches to the legacy kapi.kakao.com API: form bodies and
	// "Authorization: KakaoAK …". Default false: the current
	// open-api.kakaopay.com API with JSON bodies and
	// "Authorization: SECRET_KEY …".
	Legacy bool
	// ApprovalURL, CancelURL and FailURL are where KakaoPay sends the buyer
	// when PrepareRequest leaves SuccessURL, CancelURL or FailURL empty:
	// absolute http(s) URLs of at most 255 characters. Default none: each
	// PrepareRequest must then carry its own.
	ApprovalURL, CancelURL, FailURL string

	// HTTPClient sends the requests (its Transport in particular, so tests
	// and sandboxes can plug in). Default pghttp's pooled client.
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call. Default pghttp.DefaultTimeout
	// (10 s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call, the first included; 1
	// sends once. Default pghttp.DefaultMaxAttempts (3). KakaoPay has no
	// idempotency key, so ready, approve and cancel are resent only when
	// they never reached KakaoPay or it answered 408, 429 or 503; an order
	// lookup is also resent after a timeout or a 5xx.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between attempts. Defaults
	// pghttp.DefaultBackoffMin (100 ms) and pghttp.DefaultBackoffMax (5 s).
	BackoffMin, BackoffMax time.Duration
	// Logger receives one line per call (attempts at Debug, failures at
	// Warn), with the keys redacted. Default nil: nothing is logged.
	Logger *slog.Logger
}

// LogValue keeps the keys out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cid", c.CID), slog.Bool("legacy", c.Legacy),
		slog.String("baseURL", c.BaseURL), slog.String("secretKey", "[REDACTED]"))
}

// Gateway is the KakaoPay adapter. It implements pg.Gateway, pg.Preparer
// and pg.PrepareValidator, and is safe for concurrent use.
type Gateway struct {
	cfg   Config
	codec codec
	base  string
	http  *pghttp.Client
}

var (
	_ pg.Gateway          = (*Gateway)(nil)
	_ pg.Preparer         = (*Gateway)(nil)
	_ pg.PrepareValidator = (*Gateway)(nil)
)

// New checks cfg and returns the adapter. A field that is wrong is named in
// the error ("kakaopay: Config.CID is required").
func New(cfg Config) (*Gateway, error) {
	if cfg.CID == "" {
		return nil, errors.New("kakaopay: Config.CID is required")
	}
	if cfg.SecretKey == "" {
		return nil, errors.New("kakaopay: Config.SecretKey is required")
	}
	g := &Gateway{cfg: cfg, codec: codec{legacy: cfg.Legacy}}
	g.base = strings.TrimRight(cfg.BaseURL, "/")
	if g.base == "" {
		g.base = g.codec.defaultBaseURL()
	}
	if u, err := url.Parse(g.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kakaopay: Config.BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	for _, u := range []struct{ field, url string }{
		{"ApprovalURL", cfg.ApprovalURL}, {"CancelURL", cfg.CancelURL}, {"FailURL", cfg.FailURL},
	} {
		if err := checkRedirectURL(u.url); u.url != "" && err != nil {
			return nil, fmt.Errorf("kakaopay: Config.%s: %w", u.field, err)
		}
	}
	if err := checkTransport(cfg.Timeout, cfg.MaxAttempts, cfg.BackoffMin, cfg.BackoffMax); err != nil {
		return nil, fmt.Errorf("kakaopay: %w", err)
	}
	secrets := []string{cfg.SecretKey, g.codec.authorization(cfg.SecretKey)}
	if cfg.CIDSecret != "" {
		secrets = append(secrets, cfg.CIDSecret)
	}
	g.http = &pghttp.Client{
		PG:          Name,
		HTTPClient:  cfg.HTTPClient,
		Logger:      cfg.Logger,
		Secrets:     secrets,
		Timeout:     cfg.Timeout,
		MaxAttempts: cfg.MaxAttempts,
		BackoffMin:  cfg.BackoffMin,
		BackoffMax:  cfg.BackoffMax,
	}
	return g, nil
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

// Name returns "kakaopay".
func (g *Gateway) Name() string { return Name }

// Capabilities declares what KakaoPay offers: partial cancels (with the
// cancel_available_amount guard), KRW only, card and KakaoPay Money. It has
// no idempotency keys (an approval or cancel that may have happened is
// resolved by lookup, never resent), no webhooks (results come back through
// the buyer's redirect), and its lookup needs the tid, which Prepare stores.
func (g *Gateway) Capabilities() pg.Capabilities {
	return pg.Capabilities{
		PartialCancel:   true,
		IdempotencyKeys: false,
		LookupByOrderID: false,
		Webhooks:        false,
		VirtualAccounts: false,
		Currencies:      []pg.Currency{pg.KRW},
		Methods:         []pg.Method{pg.MethodEasyPay, pg.MethodCard, pg.MethodMoney},
	}
}

// LogValue keeps the keys out of logs: only the name, merchant code and
// base URL.
func (g *Gateway) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pg", Name), slog.String("cid", g.cfg.CID), slog.String("baseURL", g.base))
}

// String keeps the keys out of fmt output.
func (g *Gateway) String() string { return "kakaopay.Gateway(" + g.base + ")" }

// GoString keeps the keys out of %#v.
func (g *Gateway) GoString() string { return g.String() }

// call sends one request and decodes a success answer into out. Failures are
// *pg.Error (wrapped): transport failures as pghttp classified them, error
// answers through errorFrom, an unreadable success answer as KindUnknown.
// Only reads set idempotent: KakaoPay has no idempotency key, so an approve
// or cancel is never resent once it may have reached KakaoPay.
func (g *Gateway) call(ctx context.Context, op, path string, req wireRequest, idempotent bool, out any) error {
	body, contentType, err := g.codec.encode(req)
	if err != nil {
		return &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Message: "encoding the request", Err: err}
	}
	resp, err := g.http.Do(ctx, &pghttp.Request{
		Op:     op,
		Method: http.MethodPost,
		URL:    g.base + g.codec.path(path),
		Header: http.Header{
			"Authorization": {g.codec.authorization(g.cfg.SecretKey)},
			"Content-Type":  {contentType},
			"Accept":        {"application/json"},
		},
		Body:       body,
		Idempotent: idempotent,
	})
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(op, resp.StatusCode, resp.Body)
	}
	if err := decode(resp.Body, out); err != nil {
		return badResponse(op, resp.StatusCode, "unreadable answer", err)
	}
	return nil
}

// badResponse is a success answer we cannot trust: the call went through,
// so whatever it did may have happened.
func badResponse(op string, status int, msg string, err error) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "BAD_RESPONSE", HTTPStatus: status, Message: msg, Err: err}
}

// invalid is bad input refused before anything is sent.
func invalid(op, format string, args ...any) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Message: fmt.Sprintf(format, args...)}
}

// invalidField is invalid with the Code naming the field.
func invalidField(op, code, format string, args ...any) *pg.Error {
	e := invalid(op, format, args...)
	e.Code = code
	return e
}

// withCode sets the Code of an invalid error that has none.
func withCode(err error, code string) error {
	var pe *pg.Error
	if errors.As(err, &pe) && pe.Code == "" {
		pe.Code = code
	}
	return err
}

func checkRedirectURL(u string) error {
	if n := utf8.RuneCountInString(u); n > maxURL {
		return fmt.Errorf("redirect URL of %d characters, KakaoPay takes at most %d", n, maxURL)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("redirect URL %q is not an absolute http(s) URL", u)
	}
	return nil
}

// krw checks that m is a positive KRW amount.
func krw(op, what string, m pg.Money) (int64, error) {
	if !m.IsSet() {
		return 0, invalid(op, "%s is required", what)
	}
	if m.Currency() != pg.KRW {
		return 0, invalid(op, "%s must be KRW, got %s", what, m.Currency())
	}
	if !m.IsPositive() {
		return 0, invalid(op, "%s must be positive, got %s", what, m)
	}
	return m.Int64(), nil
}

// optionalKRW checks an optional non-negative KRW amount not above limit.
func optionalKRW(op, what string, m pg.Money, limit int64) (int64, error) {
	if !m.IsSet() {
		return 0, nil
	}
	if m.Currency() != pg.KRW {
		return 0, invalid(op, "%s must be KRW, got %s", what, m.Currency())
	}
	if m.Int64() > limit {
		return 0, invalid(op, "%s %s exceeds %d KRW", what, m, limit)
	}
	return m.Int64(), nil
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
