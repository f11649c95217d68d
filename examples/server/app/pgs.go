package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// PGSettings are one PG's live settings. A PG whose settings are empty runs
// against its sandbox, served by this server under /sandbox/{pg}/.
type PGSettings struct {
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
	// cmd/…-sandbox): the PG runs in sandbox mode against it instead of a
	// sandbox served by this server, so the PG's state outlives a restart
	// of the server. The buyer is then played at that sandbox.
	Sandbox string
	// NotiSources, when set, replaces the addresses Inicis deposit
	// notifications are trusted from (inicis.Config.NotiSources).
	NotiSources []netip.Prefix
}

// Live reports whether s names a real PG account.
func (s PGSettings) Live() bool { return s.BaseURL != "" && (s.SecretKey != "" || s.MID != "") }

// gatewaySetup is a PG wired into the app: its adapter and, in sandbox mode,
// its sandbox.
type gatewaySetup struct {
	name    string
	gateway pg.Gateway
	sandbox pgtest.Sandbox // served by this server; nil when live or external
	// sandboxMode: the PG is a sandbox, here or in another process.
	sandboxMode bool
	clientKey   string
}

// sandboxBase is where a PG's sandbox is served.
func sandboxBase(publicURL, name string) string {
	return strings.TrimRight(publicURL, "/") + "/sandbox/" + name
}

func setupKakaoPay(publicURL string, live PGSettings) (gatewaySetup, error) {
	cfg := kakaopay.Config{
		CID: live.CID, SecretKey: live.SecretKey, BaseURL: live.BaseURL,
		ApprovalURL: publicURL + "/return/kakaopay/approve",
		CancelURL:   publicURL + "/return/kakaopay/cancel",
		FailURL:     publicURL + "/return/kakaopay/fail",
	}
	var sb *kakaopaytest.Sandbox
	switch {
	case live.Live():
	case live.Sandbox != "":
		cfg.CID, cfg.SecretKey, cfg.BaseURL = kakaopaytest.TestCID, kakaopaytest.DefaultSecretKey, strings.TrimRight(live.Sandbox, "/")
	default:
		// Keys of this start only: the published test keys would let
		// anyone call the sandbox's API as this shop.
		secret := "DEV" + randomKey(37)
		sb = kakaopaytest.New(kakaopaytest.Config{
			BaseURL: sandboxBase(publicURL, kakaopay.Name), SecretKey: secret, AdminKey: randomKey(32),
		})
		cfg.CID, cfg.SecretKey, cfg.BaseURL = kakaopaytest.TestCID, secret, sb.BaseURL()
	}
	gw, err := kakaopay.New(cfg)
	if err != nil {
		return gatewaySetup{}, fmt.Errorf("kakaopay: %w", err)
	}
	s := gatewaySetup{name: gw.Name(), gateway: gw, sandboxMode: !live.Live()}
	if sb != nil {
		s.sandbox = sb
	}
	return s, nil
}

func setupInicis(publicURL string, live PGSettings) (gatewaySetup, error) {
	var cfg inicis.Config
	var sb *inicistest.Sandbox
	if live.MID != "" {
		cfg = inicis.Config{
			MID: live.MID, SignKey: live.SignKey, APIKey: live.APIKey, APIIV: live.APIIV,
			ClientIP: live.ClientIP, BaseURL: live.BaseURL, MobileHashKey: live.MobileHashKey,
			MobileNotiURL: publicURL + "/webhooks/" + inicis.Name,
		}
	} else if live.Sandbox != "" {
		// The sandbox's keys are the test merchant's; only its address
		// differs.
		cfg = inicistest.New(inicistest.Config{BaseURL: live.Sandbox}).GatewayConfig()
	} else {
		// The test merchant's MID (it is part of every tid) with keys of
		// this start only: the published INIpayTest keys would let anyone
		// sign approvals and refunds as this shop.
		sb = inicistest.New(inicistest.Config{
			BaseURL: sandboxBase(publicURL, inicis.Name), MID: inicis.TestMID,
			SignKey: randomKey(32), APIKey: randomKey(16), APIIV: randomKey(16), MobileHashKey: randomKey(32),
			WebhookURL: publicURL + "/webhooks/" + inicis.Name,
		})
		cfg = sb.GatewayConfig()
		// Deposit notifications come from the sandbox in this process.
		cfg.NotiSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		cfg.MobileNotiURL = publicURL + "/webhooks/" + inicis.Name
	}
	if len(live.NotiSources) > 0 {
		cfg.NotiSources = live.NotiSources
	}
	gw, err := inicis.New(cfg)
	if err != nil {
		return gatewaySetup{}, fmt.Errorf("inicis: %w", err)
	}
	s := gatewaySetup{name: gw.Name(), gateway: gw, sandboxMode: live.MID == ""}
	if sb != nil {
		s.sandbox = sb
	}
	return s, nil
}

// sandboxPay plays the buyer at a sandbox PG and answers in the API's
// shape: what the PG's redirect carries, under the API's names, and the
// whole redirect.
func sandboxPay(ctx context.Context, sb pgtest.Sandbox, req pgtest.PayRequest) (map[string]any, error) {
	res, err := sb.Pay(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if res.PaymentKey != "" {
		out["paymentKey"] = res.PaymentKey
	}
	for api, field := range redirectFields {
		if v := res.Redirect[field]; v != "" {
			out[api] = v
		}
	}
	if len(res.Redirect) > 0 {
		out["redirect"] = res.Redirect
	}
	return out, nil
}

// redirectFields maps the API's names to the PGs' redirect parameters.
var redirectFields = map[string]string{
	"pgToken":      "pg_token",
	"authToken":    "authToken",
	"authUrl":      "authUrl",
	"netCancelUrl": "netCancelUrl",
	"idcName":      "idc_name",
	"resultCode":   "resultCode",
	// INIpay Mobile's auth result keeps Inicis's names.
	"P_STATUS":  "P_STATUS",
	"P_TID":     "P_TID",
	"P_REQ_URL": "P_REQ_URL",
	"P_RMESG1":  "P_RMESG1",
}

func setupToss(publicURL string, live PGSettings) (gatewaySetup, error) {
	if live.Live() {
		gw, err := tosspay.New(tosspay.Config{SecretKey: live.SecretKey, BaseURL: live.BaseURL})
		if err != nil {
			return gatewaySetup{}, fmt.Errorf("tosspay: %w", err)
		}
		return gatewaySetup{name: gw.Name(), gateway: gw, clientKey: live.ClientKey}, nil
	}
	if live.Sandbox != "" {
		gw, err := tosspay.New(tosspay.Config{SecretKey: tosspaytest.DefaultSecretKey, BaseURL: strings.TrimRight(live.Sandbox, "/")})
		if err != nil {
			return gatewaySetup{}, fmt.Errorf("tosspay: %w", err)
		}
		return gatewaySetup{name: gw.Name(), gateway: gw, sandboxMode: true, clientKey: tossSandboxClientKey}, nil
	}
	// A secret key of this start only: with the published test key anyone
	// could read a payment (its webhook secret included) from the sandbox.
	// "test_" keeps it a test key, so TossPayments-Test-Code works. Like
	// the other sandboxes here it has no HoldMax: a buyer's scripted
	// timeout cuts the connection at once, an unknown outcome without the
	// wait.
	sb := tosspaytest.New(tosspaytest.Config{
		BaseURL:    sandboxBase(publicURL, tosspay.Name),
		WebhookURL: publicURL + "/webhooks/" + tosspay.Name,
		SecretKey:  "test_sk_" + randomKey(32),
	})
	gw, err := tosspay.New(tosspay.Config{SecretKey: sb.SecretKey(), BaseURL: sb.BaseURL()})
	if err != nil {
		return gatewaySetup{}, fmt.Errorf("tosspay: %w", err)
	}
	return gatewaySetup{name: gw.Name(), gateway: gw, sandbox: sb, sandboxMode: true, clientKey: tossSandboxClientKey}, nil
}

// randomKey returns n random characters of [A-Za-z0-9].
func randomKey(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		// rand.Int never fails on supported platforms.
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// tossSandboxClientKey is the client key the sandbox's checkout hands the
// browser; the sandbox PG needs none, but a Toss window does.
const tossSandboxClientKey = "test_ck_sandbox"
