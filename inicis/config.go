package inicis

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

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
	// LiveAPIBaseURL is the INIAPI host for refunds and inquiries.
	LiveAPIBaseURL = "https://iniapi.inicis.com"
	// TestAPIBaseURL is the INIAPI v2 test host.
	TestAPIBaseURL = "https://stginiapi.inicis.com"
	// LiveStdPayJS and TestStdPayJS are the INIStdPay.js scripts that open
	// the payment window in the buyer's browser.
	LiveStdPayJS = "https://stdpay.inicis.com/stdjs/INIStdPay.js"
	TestStdPayJS = "https://stgstdpay.inicis.com/stdjs/INIStdPay.js"
)

// Endpoints are the approval (authUrl) and net-cancel (netCancelUrl)
// addresses of one Inicis data centre, named by the idc_name the auth
// result carries.
type Endpoints struct {
	AuthURL      string
	NetCancelURL string
}

// DefaultIDCs is the allow-list of Inicis approval hosts by idc_name. An
// authUrl or netCancelUrl from the buyer's redirect is only ever called when
// it is exactly the address listed here for the redirect's idc_name: the
// redirect passes through the buyer's browser, so anything in it may be
// forged (SSRF).
var DefaultIDCs = map[string]Endpoints{
	"fc":  {AuthURL: "https://fcstdpay.inicis.com/api/payAuth", NetCancelURL: "https://fcstdpay.inicis.com/api/netCancel"},
	"ks":  {AuthURL: "https://ksstdpay.inicis.com/api/payAuth", NetCancelURL: "https://ksstdpay.inicis.com/api/netCancel"},
	"stg": {AuthURL: "https://stgstdpay.inicis.com/api/payAuth", NetCancelURL: "https://stgstdpay.inicis.com/api/netCancel"},
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
// APIKey and ClientIP to cancel and look up (INIAPI).
type Config struct {
	// MID is the merchant id ("INIpayTest" in tests).
	MID string
	// SignKey signs the INIpay Standard form and approval (SHA-256).
	SignKey string
	// APIKey is the INIAPI key (16 characters) that signs refunds and
	// inquiries (SHA-512) and, with APIIV, encrypts [ENC] fields.
	APIKey string
	APIIV  string
	// ClientIP is this server's outbound address as registered in the
	// Inicis merchant admin; INIAPI refuses calls from other addresses.
	ClientIP string
	// APIBaseURL is the INIAPI host; default LiveAPIBaseURL.
	APIBaseURL string
	// IDCs is the allow-list of approval and net-cancel addresses by
	// idc_name; nil means DefaultIDCs. A sandbox host is allowed only by
	// listing it here.
	IDCs map[string]Endpoints
	// NotiSources are the addresses deposit notifications are accepted
	// from; nil means DefaultNotiSources. The check uses the connection's
	// peer address: behind a proxy, hand ParseWebhook the address the
	// proxy saw, never a header the client controls.
	NotiSources []netip.Prefix
	// SkipNotiInquiry turns off the inquiry ParseWebhook makes by default to
	// fetch the notified payment back from INIAPI and check its order,
	// amount and state against the notification. Leave it off in production:
	// the source address is the only other check a notification gets.
	SkipNotiInquiry bool
	// AcceptMethod is sent as the form's acceptmethod (e.g. "below1000" or
	// "HPP(1)"); empty sends none.
	AcceptMethod string
	// HTTPClient sends every request (through pg/pghttp, which adds the
	// retry policy, timeouts and redaction); nil means pghttp's pooled
	// client. Tests plug their transport in here.
	HTTPClient *http.Client
	// Timeout bounds each attempt of a call; zero means pghttp's default.
	Timeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger is the host's logger; default slog.Default(). It receives the
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
		slog.String("clientIp", c.ClientIP),
		slog.String("apiBaseUrl", c.APIBaseURL))
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
		APIBaseURL: TestAPIBaseURL, IDCs: map[string]Endpoints{"stg": DefaultIDCs["stg"]},
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.MID == "" {
		errs = append(errs, errors.New("MID is required"))
	}
	if c.SignKey == "" {
		errs = append(errs, errors.New("SignKey is required"))
	}
	if c.APIKey != "" && len(c.APIKey) != 16 {
		errs = append(errs, errors.New("APIKey must be 16 characters"))
	}
	if c.APIIV != "" && len(c.APIIV) != 16 {
		errs = append(errs, errors.New("APIIV must be 16 characters"))
	}
	if c.ClientIP != "" {
		if _, err := netip.ParseAddr(c.ClientIP); err != nil {
			errs = append(errs, fmt.Errorf("ClientIP: %w", err))
		}
	}
	if c.APIBaseURL == "" {
		c.APIBaseURL = LiveAPIBaseURL
	}
	c.APIBaseURL = strings.TrimRight(c.APIBaseURL, "/")
	if err := checkAbsURL(c.APIBaseURL); err != nil {
		errs = append(errs, fmt.Errorf("APIBaseURL: %w", err))
	}
	if c.IDCs == nil {
		c.IDCs = DefaultIDCs
	}
	idcs := make(map[string]Endpoints, len(c.IDCs))
	for name, ep := range c.IDCs {
		if name == "" {
			errs = append(errs, errors.New("IDCs: empty idc_name"))
		}
		for _, u := range []string{ep.AuthURL, ep.NetCancelURL} {
			if err := checkAbsURL(u); err != nil {
				errs = append(errs, fmt.Errorf("IDCs[%q]: %w", name, err))
			}
		}
		idcs[name] = ep
	}
	c.IDCs = idcs
	if c.NotiSources == nil {
		c.NotiSources = DefaultNotiSources
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
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
