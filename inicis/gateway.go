package inicis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// Name is the adapter's registry name.
const Name = "inicis"

// Test credentials of the INIpayTest merchant, as published by Inicis for
// integration tests. They only work against Inicis's test environment (and
// the inicistest sandbox); never use them for real payments.
const (
	TestMID     = "INIpayTest"
	TestSignKey = "SU5JTElURV9UUklQTEVERVNfS0VZU1RS"
	TestAPIKey  = "ItEQKi3rY7uvDS8l"
	// TestAPIIV is the INIAPI IV of INIpayTest. Public integrations disagree
	// on it; this is the one that reproduces Inicis's own FAQ example
	// (refundAcctNum "123456789" encrypts to "qwMHVJqsmXKoR+d8wQTS4g==").
	TestAPIIV = "HYb3yQ4f65QL89=="
)

// Default hosts.
const (
	// DefaultBaseURL is the INIAPI host for refunds and inquiries.
	DefaultBaseURL = "https://iniapi.inicis.com"
	// TestBaseURL is the INIAPI v2 test host.
	TestBaseURL = "https://stginiapi.inicis.com"
	// LiveStdPayJS and TestStdPayJS are the INIStdPay.js scripts that open
	// the payment window in the buyer's browser.
	LiveStdPayJS = "https://stdpay.inicis.com/stdjs/INIStdPay.js"
	TestStdPayJS = "https://stgstdpay.inicis.com/stdjs/INIStdPay.js"
	// DefaultMobilePayURL is the INIpay Mobile payment window: a phone's
	// browser (or an app's web view) posts the P_* form of a mobile
	// checkout here.
	DefaultMobilePayURL = "https://mobile.inicis.com/smart/payment/"
)

// Endpoints are the approval (authUrl) and net-cancel (netCancelUrl)
// addresses of one Inicis data centre, named by the idc_name the auth
// result carries, and its INIpay Mobile approval address (the P_REQ_URL a
// mobile auth result names; empty when mobile payments are not approved
// there).
type Endpoints struct {
	AuthURL       string
	NetCancelURL  string
	MobileAuthURL string
}

// DefaultIDCs is the allow-list of Inicis approval hosts by idc_name. An
// authUrl or netCancelUrl from the buyer's redirect is only ever called when
// it is exactly the address listed here for the redirect's idc_name: the
// redirect passes through the buyer's browser, so anything in it may be
// forged (SSRF).
//
// A mobile auth result names no idc_name: its P_REQ_URL is called only when
// it is exactly one of the MobileAuthURL addresses listed here.
var DefaultIDCs = map[string]Endpoints{
	"fc": {AuthURL: "https://fcstdpay.inicis.com/api/payAuth", NetCancelURL: "https://fcstdpay.inicis.com/api/netCancel",
		MobileAuthURL: "https://fcmobile.inicis.com/smart/payReq.ini"},
	"ks": {AuthURL: "https://ksstdpay.inicis.com/api/payAuth", NetCancelURL: "https://ksstdpay.inicis.com/api/netCancel",
		MobileAuthURL: "https://ksmobile.inicis.com/smart/payReq.ini"},
	"stg": {AuthURL: "https://stgstdpay.inicis.com/api/payAuth", NetCancelURL: "https://stgstdpay.inicis.com/api/netCancel",
		MobileAuthURL: "https://stgmobile.inicis.com/smart/payReq.ini"},
}

// DefaultNotiSources are the addresses Inicis sends virtual-account deposit
// notifications from, as far as public integrations know them. Inicis does
// not sign notifications, so the source address is the check; confirm the
// current list with Inicis and set Config.NotiSources in production.
var DefaultNotiSources = []netip.Prefix{
	netip.MustParsePrefix("203.238.37.15/32"),
	netip.MustParsePrefix("183.109.71.153/32"),
}

// Config configures a Gateway. MID and SignKey are needed to take payments;
// APIKey and ClientIP to cancel and look up (INIAPI). Every other field has
// a working default.
type Config struct {
	// MID is the merchant id (TestMID in tests). Required.
	MID string
	// SignKey signs the INIpay Standard form and approval (SHA-256).
	// Required; never logged.
	SignKey string
	// APIKey is the INIAPI key (16 characters) that signs refunds and
	// inquiries (SHA-512) and, with APIIV (16 characters), encrypts [ENC]
	// fields. Needed by Cancel, Lookup and ParseWebhook's inquiry; never
	// logged.
	APIKey string
	APIIV  string
	// ClientIP is this server's outbound address as registered in the
	// Inicis merchant admin; INIAPI refuses calls from other addresses.
	// Needed with APIKey.
	ClientIP string
	// BaseURL is the INIAPI host. Default DefaultBaseURL (TestBaseURL is
	// Inicis's test host); point it at a sandbox in tests. A trailing slash
	// is ignored. Approvals go to the IDCs' addresses instead.
	BaseURL string

	// IDCs is the allow-list of approval and net-cancel addresses by
	// idc_name. Default DefaultIDCs. A sandbox host is allowed only by
	// listing it here.
	IDCs map[string]Endpoints
	// NotiSources are the addresses deposit notifications are accepted
	// from. Default DefaultNotiSources. The check uses the connection's
	// peer address: behind a proxy, hand ParseWebhook the address the
	// proxy saw, never a header the client controls.
	NotiSources []netip.Prefix
	// SkipNotiInquiry turns off the inquiry ParseWebhook makes by default to
	// fetch the notified payment back from INIAPI and check its order,
	// amount and state against the notification. Default false; leave it
	// so in production: the source address is the only other check a
	// notification gets.
	SkipNotiInquiry bool
	// AcceptMethod is sent as the form's acceptmethod (e.g. "below1000" or
	// "HPP(1)"). Default none.
	AcceptMethod string

	// MobileHashKey is the INIpay Mobile hash key (separate from SignKey
	// and APIKey). When set, a mobile checkout's form carries P_TIMESTAMP
	// and P_CHKFAKE = base64(SHA-512(P_AMT + P_OID + P_TIMESTAMP + key)),
	// and an approval answer that carries P_CHKFAKE must match it. Default
	// none: forms go unhashed and answers' P_CHKFAKE cannot be checked.
	// Never logged.
	MobileHashKey string
	// MobilePayURL is the INIpay Mobile window a mobile checkout's form is
	// posted to (Prepared.Client["actionUrl"]). Default
	// DefaultMobilePayURL.
	MobilePayURL string
	// MobileNotiURL is sent as a mobile checkout's P_NOTI_URL: where
	// Inicis posts the P_* notifications of virtual-account deposits (and
	// card results). Point it at the shop's webhook intake for Inicis.
	// Default none (no P_NOTI_URL is sent).
	MobileNotiURL string
	// MobileAppScheme is the shop app's URL scheme ("myshop://"), sent in
	// an app checkout's P_RESERVED (app_scheme) so a card or bank app hands
	// the buyer back to the shop's app. Default none.
	MobileAppScheme string
	// Now is the clock that stamps signed forms and INIAPI requests.
	// Default time.Now.
	Now func() time.Time

	// HTTPClient sends every request (its Transport in particular, so
	// tests and sandboxes can plug in). Default pghttp's pooled client.
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call. Default pghttp.DefaultTimeout
	// (10 s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call, the first included; 1
	// sends once. Default pghttp.DefaultMaxAttempts (3). Inicis has no
	// idempotency key, so approvals, net cancels and refunds are resent
	// only when they never reached Inicis or it answered 408, 429 or 503;
	// an inquiry is also resent after a timeout or a 5xx.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between attempts. Defaults
	// pghttp.DefaultBackoffMin (100 ms) and pghttp.DefaultBackoffMax (5 s).
	BackoffMin, BackoffMax time.Duration
	// Logger is the host's logger. Default slog.Default(). It receives the
	// shared HTTP client's log of every call (attempts at Debug, failures
	// at Warn) and one line per event of the adapter's own: an approval
	// refused (Warn), an approval answer that is forged or not the one
	// asked for, net-canceled (Error), a notification refused (Warn). Keys
	// are redacted from every line; request and answer bodies (hashes,
	// card numbers, account numbers) are never logged.
	Logger *slog.Logger
}

// LogValue keeps the keys out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mid", c.MID),
		slog.String("signKey", redact(c.SignKey)),
		slog.String("apiKey", redact(c.APIKey)),
		slog.String("apiIV", redact(c.APIIV)),
		slog.String("mobileHashKey", redact(c.MobileHashKey)),
		slog.String("clientIp", c.ClientIP),
		slog.String("baseUrl", c.BaseURL))
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// TestConfig is the INIpayTest merchant against Inicis's test hosts.
func TestConfig() Config {
	return Config{
		MID: TestMID, SignKey: TestSignKey, APIKey: TestAPIKey, APIIV: TestAPIIV,
		BaseURL: TestBaseURL, IDCs: map[string]Endpoints{"stg": DefaultIDCs["stg"]},
	}
}

// Gateway is the KG Inicis adapter: INIpay Standard (PC web) and INIpay
// Mobile (phones and apps) for payment, INIAPI v2 for cancels and
// inquiries, and virtual-account deposit notifications. It implements pg.Gateway, pg.Preparer,
// pg.PrepareValidator, pg.NetCanceler, pg.WebhookParser and
// pg.WebhookAcker, and is safe for concurrent use.
type Gateway struct {
	cfg  Config
	http *pghttp.Client
	// log is Config.Logger behind the same redaction as the HTTP client's
	// log: the keys never reach a log line, whatever an error carries.
	log *slog.Logger
}

var (
	_ pg.Gateway          = (*Gateway)(nil)
	_ pg.Preparer         = (*Gateway)(nil)
	_ pg.PrepareValidator = (*Gateway)(nil)
	_ pg.NetCanceler      = (*Gateway)(nil)
	_ pg.WebhookParser    = (*Gateway)(nil)
	_ pg.WebhookAcker     = (*Gateway)(nil)
)

// New checks cfg and returns the adapter. Every field that is wrong is
// named in the error ("inicis: Config.MID is required").
func New(cfg Config) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("inicis: %w", err)
	}
	c := pghttp.New(Name)
	c.HTTPClient = cfg.HTTPClient
	c.Logger = cfg.Logger
	c.Timeout = cfg.Timeout
	c.MaxAttempts = cfg.MaxAttempts
	c.BackoffMin, c.BackoffMax = cfg.BackoffMin, cfg.BackoffMax
	for _, secret := range []string{cfg.SignKey, cfg.APIKey, cfg.APIIV, cfg.MobileHashKey} {
		if secret != "" {
			c.Secrets = append(c.Secrets, secret)
		}
	}
	log := slog.New(pghttp.RedactHandler(cfg.Logger.Handler(), c.Secrets...)).With("pg", Name)
	return &Gateway{cfg: cfg, http: c, log: log}, nil
}

// validate checks c and fills in the defaults.
func (c *Config) validate() error {
	var errs []error
	if c.MID == "" {
		errs = append(errs, errors.New("Config.MID is required"))
	}
	if c.SignKey == "" {
		errs = append(errs, errors.New("Config.SignKey is required"))
	}
	if c.APIKey != "" && len(c.APIKey) != 16 {
		errs = append(errs, errors.New("Config.APIKey must be 16 characters"))
	}
	if c.APIIV != "" && len(c.APIIV) != 16 {
		errs = append(errs, errors.New("Config.APIIV must be 16 characters"))
	}
	if c.ClientIP != "" {
		if _, err := netip.ParseAddr(c.ClientIP); err != nil {
			errs = append(errs, fmt.Errorf("Config.ClientIP: %w", err))
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if err := checkAbsURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("Config.BaseURL: %w", err))
	}
	if c.IDCs == nil {
		c.IDCs = DefaultIDCs
	}
	idcs := make(map[string]Endpoints, len(c.IDCs))
	for name, ep := range c.IDCs {
		if name == "" {
			errs = append(errs, errors.New("Config.IDCs: empty idc_name"))
		}
		for _, u := range []string{ep.AuthURL, ep.NetCancelURL} {
			if err := checkAbsURL(u); err != nil {
				errs = append(errs, fmt.Errorf("Config.IDCs[%q]: %w", name, err))
			}
		}
		if ep.MobileAuthURL != "" {
			if err := checkAbsURL(ep.MobileAuthURL); err != nil {
				errs = append(errs, fmt.Errorf("Config.IDCs[%q].MobileAuthURL: %w", name, err))
			}
		}
		idcs[name] = ep
	}
	c.IDCs = idcs
	if err := checkTransport(c.Timeout, c.MaxAttempts, c.BackoffMin, c.BackoffMax); err != nil {
		errs = append(errs, err)
	}
	if c.NotiSources == nil {
		c.NotiSources = DefaultNotiSources
	}
	if c.MobilePayURL == "" {
		c.MobilePayURL = DefaultMobilePayURL
	}
	if err := checkAbsURL(c.MobilePayURL); err != nil {
		errs = append(errs, fmt.Errorf("Config.MobilePayURL: %w", err))
	}
	if c.MobileNotiURL != "" {
		if err := checkAbsURL(c.MobileNotiURL); err != nil {
			errs = append(errs, fmt.Errorf("Config.MobileNotiURL: %w", err))
		}
	}
	if strings.ContainsAny(c.MobileAppScheme, "&= \t\r\n") {
		errs = append(errs, fmt.Errorf("Config.MobileAppScheme %q has a character P_RESERVED cannot carry", c.MobileAppScheme))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
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

func checkAbsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Name returns "inicis".
func (g *Gateway) Name() string { return Name }

// Capabilities: partial cancels with the confirmPrice balance guard; no
// idempotency key anywhere (INIAPI has none, so an ambiguous cancel is
// resolved by inquiry); inquiry by order id; deposit notifications for
// virtual accounts; won only; 1,000 won at least, unless the form's
// acceptmethod carries "below1000" (Config.AcceptMethod).
func (g *Gateway) Capabilities() pg.Capabilities {
	minAmount := pg.Won(1000)
	if strings.Contains(g.cfg.AcceptMethod, "below1000") {
		minAmount = pg.Won(1)
	}
	return pg.Capabilities{
		PartialCancel:   true,
		IdempotencyKeys: false,
		LookupByOrderID: true,
		Webhooks:        true,
		VirtualAccounts: true,
		Currencies:      []pg.Currency{pg.KRW},
		Methods: []pg.Method{
			pg.MethodCard, pg.MethodVirtualAccount, pg.MethodTransfer,
			pg.MethodMobilePhone, pg.MethodEasyPay,
		},
		MinAmount: minAmount,
	}
}

// LogValue keeps the keys out of logs.
func (g *Gateway) LogValue() slog.Value { return g.cfg.LogValue() }

// String keeps the keys out of fmt output.
func (g *Gateway) String() string { return "inicis.Gateway(" + g.cfg.MID + ", " + g.cfg.BaseURL + ")" }

// GoString keeps the keys out of %#v.
func (g *Gateway) GoString() string { return g.String() }

// fail builds the adapter's error.
func fail(op string, kind pg.Kind, code, msg string, status int, cause error) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: kind, Code: code, Message: msg, HTTPStatus: status, Err: cause}
}

// invalid is the error for a request refused before anything was sent.
func invalid(op, format string, args ...any) *pg.Error {
	return fail(op, pg.KindInvalid, "", fmt.Sprintf(format, args...), 0, nil)
}

// post sends one request through the shared PG client (pg/pghttp) and
// returns the answer whatever its status. pghttp resends only what cannot
// act twice: a request that never reached Inicis, a 429/503, or, for reads
// (idempotent), a timeout or 5xx. None of Inicis's writes carries an
// idempotency key, so they go out once; a failure after sending is
// KindUnknown, to be resolved by inquiry.
func (g *Gateway) post(ctx context.Context, op, url, contentType string, body []byte, idempotent bool) (int, []byte, error) {
	resp, err := g.http.Do(ctx, &pghttp.Request{
		Op:     op,
		Method: http.MethodPost,
		URL:    url,
		Header: http.Header{
			"Content-Type": {contentType},
			"Accept":       {"application/json"},
		},
		Body:             body,
		Idempotent:       idempotent,
		MaxResponseBytes: maxBody,
	})
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Body, nil
}

// httpFailure is the error for a non-200 answer that carried no result
// code we could read.
func httpFailure(op string, status int, idempotent bool) *pg.Error {
	kind := pg.KindForHTTPStatus(status)
	if kind == pg.KindNotFound {
		// Inicis says "no such payment" with a result code; a bare 404 is a
		// wrong address (our configuration), and reading it as "not found"
		// would fail a payment that may be captured.
		kind = pg.KindInvalid
	}
	if kind == pg.KindUnknown && idempotent {
		// A read cannot have changed anything; it simply did not work.
		kind = pg.KindUnavailable
	}
	return fail(op, kind, "", http.StatusText(status), status, nil)
}

// callAPI signs and sends one INIAPI v2 request and returns the answer's
// fields. Non-success result codes become errors by the code table.
func (g *Gateway) callAPI(ctx context.Context, op, typ string, a api, data any) (fields, error) {
	if g.cfg.APIKey == "" || g.cfg.ClientIP == "" {
		return nil, invalid(op, "INIAPI needs Config.APIKey and Config.ClientIP")
	}
	raw, err := marshalData(data)
	if err != nil {
		return nil, fail(op, pg.KindInvalid, "", "encode data", 0, err)
	}
	ts := apiTimestamp(g.cfg.Now())
	body, err := marshalData(envelope{
		MID: g.cfg.MID, Type: typ, Timestamp: ts, ClientIP: g.cfg.ClientIP,
		Data: raw, HashData: apiHash(g.cfg.APIKey, g.cfg.MID, typ, ts, raw),
	})
	if err != nil {
		return nil, fail(op, pg.KindInvalid, "", "encode request", 0, err)
	}
	status, resp, err := g.post(ctx, op, g.cfg.BaseURL+"/v2/pg/"+typ, jsonContentType, body, a == apiInquiry)
	if err != nil {
		return nil, err
	}
	return parseAPIResponse(op, a, status, resp)
}

// tidOf finds the payment's tid in the request or the stored data.
func tidOf(key string, prepared map[string]string) string {
	return firstNonEmpty(key, prepared["tid"])
}

// checkTID refuses tids that cannot be Inicis's (40 bytes, printable).
func checkTID(op, tid string) error {
	if len(tid) == 0 || len(tid) > 64 {
		return invalid(op, "tid must be 1..64 bytes")
	}
	for _, c := range []byte(tid) {
		if c <= ' ' || c > '~' {
			return invalid(op, "tid %q has a non-printable character", tid)
		}
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
