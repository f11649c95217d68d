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

// Keys of Prepared.Client: the redirect targets KakaoPay returned, to open
// the payment window in the buyer's environment. Empty ones are left out.
const (
	ClientRedirectPC     = "next_redirect_pc_url"
	ClientRedirectMobile = "next_redirect_mobile_url"
	ClientRedirectApp    = "next_redirect_app_url"
	ClientAndroidScheme  = "android_app_scheme"
	ClientIOSScheme      = "ios_app_scheme"
)

// RedirectPGToken is the key of ApproveRequest.Redirect holding the pg_token
// KakaoPay appended to approval_url.
const RedirectPGToken = "pg_token"

// Config configures a Gateway.
type Config struct {
	// CID is the merchant code (TestCID for tests). Required.
	CID string
	// CIDSecret is the optional merchant code secret.
	CIDSecret string
	// SecretKey authenticates every call: the SECRET_KEY of the current
	// API, or, with Legacy, the service app's admin key sent as KakaoAK.
	// Required; never logged.
	SecretKey string
	// Legacy switches to the legacy kapi.kakao.com API: form bodies and
	// "Authorization: KakaoAK …". The default is the current
	// open-api.kakaopay.com API with JSON bodies and
	// "Authorization: SECRET_KEY …".
	Legacy bool
	// BaseURL replaces the API host (a sandbox's URL in tests). Default
	// https://open-api.kakaopay.com, or https://kapi.kakao.com with Legacy.
	BaseURL string
	// ApprovalURL, CancelURL and FailURL are where KakaoPay sends the buyer
	// when PrepareRequest leaves SuccessURL, CancelURL or FailURL empty.
	ApprovalURL, CancelURL, FailURL string
	// HTTPClient sends the requests (a pooled default when nil). Tests plug
	// a sandbox's or a mock's transport in here.
	HTTPClient *http.Client
	// Logger receives request logs with the key redacted; nil logs nothing.
	Logger *slog.Logger
	// Timeout bounds each attempt of a call (pghttp.DefaultTimeout).
	Timeout time.Duration
}

// LogValue keeps the keys out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cid", c.CID), slog.Bool("legacy", c.Legacy),
		slog.String("baseURL", c.BaseURL), slog.String("secretKey", "[REDACTED]"))
}

// Gateway is the KakaoPay adapter: pg.Gateway plus pg.Preparer and
// pg.PrepareValidator. It is safe for concurrent use.
type Gateway struct {
	cfg   Config
	codec codec
	base  string
	http  *pghttp.Client
}

var (
	_ pg.Gateway  = (*Gateway)(nil)
	_ pg.Preparer = (*Gateway)(nil)
)

// New returns a Gateway for cfg.
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
	for _, u := range []string{cfg.ApprovalURL, cfg.CancelURL, cfg.FailURL} {
		if err := checkRedirectURL(u); u != "" && err != nil {
			return nil, fmt.Errorf("kakaopay: Config: %w", err)
		}
	}
	secrets := []string{cfg.SecretKey, g.codec.authorization(cfg.SecretKey)}
	if cfg.CIDSecret != "" {
		secrets = append(secrets, cfg.CIDSecret)
	}
	g.http = &pghttp.Client{
		PG:         Name,
		HTTPClient: cfg.HTTPClient,
		Logger:     cfg.Logger,
		Secrets:    secrets,
		Timeout:    cfg.Timeout,
	}
	return g, nil
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
