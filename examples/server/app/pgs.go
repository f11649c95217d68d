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
	"github.com/paygate/paygate/internal/pgenv"
	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// PGSettings are one PG's live settings. A PG whose settings are empty runs
// against its sandbox, served by this server under /sandbox/{pg}/, or, with
// Sandbox set, against a sandbox process of its own.
type PGSettings = pgenv.Settings

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
	cfg, ok := pgenv.KakaoPayConfig(publicURL, live)
	var sb *kakaopaytest.Sandbox
	if !ok {
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
	cfg, ok := pgenv.InicisConfig(live)
	if live.MID != "" {
		cfg.MobileNotiURL = publicURL + "/webhooks/" + inicis.Name
	}
	var sb *inicistest.Sandbox
	if !ok {
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
	gw, clientKey, err := pgenv.Toss(live)
	if err != nil {
		return gatewaySetup{}, err
	}
	if gw != nil {
		return gatewaySetup{name: gw.Name(), gateway: gw, sandboxMode: !live.Live(), clientKey: clientKey}, nil
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
	tgw, err := tosspay.New(tosspay.Config{SecretKey: sb.SecretKey(), BaseURL: sb.BaseURL()})
	if err != nil {
		return gatewaySetup{}, fmt.Errorf("tosspay: %w", err)
	}
	return gatewaySetup{name: tgw.Name(), gateway: tgw, sandbox: sb, sandboxMode: true, clientKey: pgenv.SandboxClientKey}, nil
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
