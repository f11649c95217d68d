// Package pgenv reads the PGs' settings from the environment variables the
// example server and the paygate command share, and builds the adapters of
// the PGs those settings make live or point at a sandbox process of their
// own. A PG with neither is the caller's to handle: the example server
// serves a sandbox of it in process; the paygate command has none.
//
//	PAYGATE_TOSS_SECRET_KEY, PAYGATE_TOSS_CLIENT_KEY, PAYGATE_TOSS_BASE_URL
//	PAYGATE_KAKAOPAY_SECRET_KEY, PAYGATE_KAKAOPAY_CID, PAYGATE_KAKAOPAY_BASE_URL
//	PAYGATE_INICIS_MID, PAYGATE_INICIS_SIGN_KEY, PAYGATE_INICIS_API_KEY,
//	PAYGATE_INICIS_API_IV, PAYGATE_INICIS_CLIENT_IP, PAYGATE_INICIS_BASE_URL,
//	PAYGATE_INICIS_MOBILE_HASH_KEY (INIpay Mobile's hash key)
//	PAYGATE_TOSS_SANDBOX_URL, PAYGATE_KAKAOPAY_SANDBOX_URL, PAYGATE_INICIS_SANDBOX_URL
package pgenv

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// Settings are one PG's settings. Empty, the PG has no live account.
type Settings struct {
	// BaseURL is the PG's API address (Toss, KakaoPay) or INIAPI address
	// (Inicis).
	BaseURL string
	// SecretKey is the Toss secret key or the KakaoPay SECRET_KEY.
	SecretKey string
	// ClientKey is Toss's public client key for the payment window.
	ClientKey string
	// CID is KakaoPay's merchant code.
	CID string
	// Inicis merchant settings (MobileHashKey: INIpay Mobile's hash key).
	MID, SignKey, APIKey, APIIV, ClientIP, MobileHashKey string
	// Sandbox, when the settings are not live, is the address of this
	// PG's sandbox running as a process of its own (e.g. its
	// cmd/…-sandbox): the PG runs in sandbox mode against it, so the PG's
	// state outlives a restart of the process using it.
	Sandbox string
	// NotiSources, when set, replaces the addresses Inicis deposit
	// notifications are trusted from (inicis.Config.NotiSources).
	NotiSources []netip.Prefix
}

// Live reports whether s names a real PG account.
func (s Settings) Live() bool { return s.BaseURL != "" && (s.SecretKey != "" || s.MID != "") }

// PGs are the settings of every PG paygate ships an adapter for.
type PGs struct {
	Toss, KakaoPay, Inicis Settings
}

// FromEnv reads the settings through getenv (os.Getenv).
func FromEnv(getenv func(string) string) PGs {
	return PGs{
		Toss: Settings{
			SecretKey: getenv("PAYGATE_TOSS_SECRET_KEY"), ClientKey: getenv("PAYGATE_TOSS_CLIENT_KEY"),
			BaseURL: getenv("PAYGATE_TOSS_BASE_URL"), Sandbox: getenv("PAYGATE_TOSS_SANDBOX_URL"),
		},
		KakaoPay: Settings{
			SecretKey: getenv("PAYGATE_KAKAOPAY_SECRET_KEY"), CID: getenv("PAYGATE_KAKAOPAY_CID"),
			BaseURL: getenv("PAYGATE_KAKAOPAY_BASE_URL"), Sandbox: getenv("PAYGATE_KAKAOPAY_SANDBOX_URL"),
		},
		Inicis: Settings{
			MID: getenv("PAYGATE_INICIS_MID"), SignKey: getenv("PAYGATE_INICIS_SIGN_KEY"),
			APIKey: getenv("PAYGATE_INICIS_API_KEY"), APIIV: getenv("PAYGATE_INICIS_API_IV"),
			ClientIP: getenv("PAYGATE_INICIS_CLIENT_IP"), BaseURL: getenv("PAYGATE_INICIS_BASE_URL"),
			MobileHashKey: getenv("PAYGATE_INICIS_MOBILE_HASH_KEY"),
			Sandbox:       getenv("PAYGATE_INICIS_SANDBOX_URL"),
		},
	}
}

// Variables names the environment variables that configure a PG, for
// error messages.
func Variables(name string) string {
	switch name {
	case tosspay.Name:
		return "PAYGATE_TOSS_SECRET_KEY and PAYGATE_TOSS_BASE_URL (or PAYGATE_TOSS_SANDBOX_URL)"
	case kakaopay.Name:
		return "PAYGATE_KAKAOPAY_SECRET_KEY, PAYGATE_KAKAOPAY_CID and PAYGATE_KAKAOPAY_BASE_URL (or PAYGATE_KAKAOPAY_SANDBOX_URL)"
	case inicis.Name:
		return "PAYGATE_INICIS_MID, PAYGATE_INICIS_SIGN_KEY, PAYGATE_INICIS_API_KEY, PAYGATE_INICIS_API_IV and PAYGATE_INICIS_BASE_URL (or PAYGATE_INICIS_SANDBOX_URL)"
	}
	return "its settings"
}

// Toss returns the Toss adapter of live settings or of an external
// sandbox, with the client key of its payment window; nil when s is
// neither.
func Toss(s Settings) (gw pg.Gateway, clientKey string, err error) {
	var cfg tosspay.Config
	switch {
	case s.Live():
		cfg, clientKey = tosspay.Config{SecretKey: s.SecretKey, BaseURL: s.BaseURL}, s.ClientKey
	case s.Sandbox != "":
		cfg, clientKey = tosspay.Config{SecretKey: tosspaytest.DefaultSecretKey, BaseURL: strings.TrimRight(s.Sandbox, "/")}, SandboxClientKey
	default:
		return nil, "", nil
	}
	g, err := tosspay.New(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("tosspay: %w", err)
	}
	return g, clientKey, nil
}

// SandboxClientKey is the client key a Toss sandbox's checkout hands the
// browser; the sandbox PG needs none, but a Toss window does.
const SandboxClientKey = "test_ck_sandbox"

// KakaoPayConfig returns the KakaoPay adapter's configuration for live
// settings or an external sandbox, with the buyer's return addresses under
// publicURL; ok is false when s is neither.
func KakaoPayConfig(publicURL string, s Settings) (cfg kakaopay.Config, ok bool) {
	publicURL = strings.TrimRight(publicURL, "/")
	cfg = kakaopay.Config{
		CID: s.CID, SecretKey: s.SecretKey, BaseURL: s.BaseURL,
		ApprovalURL: publicURL + "/return/kakaopay/approve",
		CancelURL:   publicURL + "/return/kakaopay/cancel",
		FailURL:     publicURL + "/return/kakaopay/fail",
	}
	switch {
	case s.Live():
	case s.Sandbox != "":
		cfg.CID, cfg.SecretKey, cfg.BaseURL = kakaopaytest.TestCID, kakaopaytest.DefaultSecretKey, strings.TrimRight(s.Sandbox, "/")
	default:
		return cfg, false
	}
	return cfg, true
}

// InicisConfig returns the Inicis adapter's configuration for live
// settings or an external sandbox; ok is false when s is neither.
func InicisConfig(s Settings) (cfg inicis.Config, ok bool) {
	switch {
	case s.MID != "":
		return inicis.Config{
			MID: s.MID, SignKey: s.SignKey, APIKey: s.APIKey, APIIV: s.APIIV,
			ClientIP: s.ClientIP, BaseURL: s.BaseURL, MobileHashKey: s.MobileHashKey,
			NotiSources: s.NotiSources,
		}, true
	case s.Sandbox != "":
		// The sandbox's keys are the test merchant's; only its address
		// differs.
		return inicistest.New(inicistest.Config{BaseURL: s.Sandbox}).GatewayConfig(), true
	}
	return cfg, false
}

// Gateways builds the adapter of every PG that pgs make live or point at
// a sandbox process, and names those they leave unconfigured.
func Gateways(publicURL string, pgs PGs) (gws []pg.Gateway, unconfigured []string, err error) {
	toss, _, err := Toss(pgs.Toss)
	if err != nil {
		return nil, nil, err
	}
	if toss != nil {
		gws = append(gws, toss)
	} else {
		unconfigured = append(unconfigured, tosspay.Name)
	}
	if cfg, ok := KakaoPayConfig(publicURL, pgs.KakaoPay); ok {
		g, err := kakaopay.New(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("kakaopay: %w", err)
		}
		gws = append(gws, g)
	} else {
		unconfigured = append(unconfigured, kakaopay.Name)
	}
	if cfg, ok := InicisConfig(pgs.Inicis); ok {
		g, err := inicis.New(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("inicis: %w", err)
		}
		gws = append(gws, g)
	} else {
		unconfigured = append(unconfigured, inicis.Name)
	}
	return gws, unconfigured, nil
}
