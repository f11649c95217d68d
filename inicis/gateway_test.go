package inicis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

// epoch is 2023-11-15 07:13:20 KST.
var epoch = time.Unix(1700000000, 0)

const (
	authURL      = "https://stgstdpay.inicis.com/api/payAuth"
	netCancelURL = "https://stgstdpay.inicis.com/api/netCancel"
	tid          = "StdpayCARDINIpayTest20231115071320000001"
	token        = "abc+/=token"
)

func newGateway(t *testing.T, rt http.RoundTripper, mod ...func(*inicis.Config)) *inicis.Gateway {
	t.Helper()
	cfg := inicis.TestConfig()
	cfg.ClientIP = "192.0.2.10"
	cfg.HTTPClient = &http.Client{Transport: rt}
	cfg.Now = func() time.Time { return epoch }
	cfg.Logger = slog.New(slog.DiscardHandler)
	for _, m := range mod {
		m(&cfg)
	}
	g, err := inicis.New(cfg)
	require.NoError(t, err)
	return g
}

func redirect(changes map[string]string) map[string]string {
	r := map[string]string{
		"resultCode": "0000", "resultMsg": "성공", "mid": "INIpayTest", "orderNumber": "order-1",
		"authToken": token, "authUrl": authURL, "netCancelUrl": netCancelURL, "idc_name": "stg", "charset": "UTF-8",
	}
	for k, v := range changes {
		if v == "<delete>" {
			delete(r, k)
			continue
		}
		r[k] = v
	}
	return r
}

func approveReq(changes map[string]string) pg.ApproveRequest {
	return pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-1", Amount: pg.Won(1000), Redirect: redirect(changes)}
}

// The approval form, byte for byte: fields sorted by name, the token form
// encoded, hashes from the INIpayTest signKey at epoch.
const wantApprovalForm = "authToken=abc%2B%2F%3Dtoken&charset=UTF-8&format=JSON&mid=INIpayTest&price=1000" +
	"&signature=5e647a5a1f509ca32e655423af2bcca8e4d9d0db6b769e8525ad9ceca146b123&timestamp=1700000000000" +
	"&verification=ad0315ecb909016bdb792228420336228d0a73ec6f2ba5fa8541f2baa0f3aed2"

// cardApproval is an approval answer signed for the request at epoch
// (authSignature over TotPrice, tstamp and MOID: the timestamp ends in 0).
const cardApproval = `{"resultCode":"0000","resultMsg":"정상처리되었습니다.","tid":"` + tid + `","MOID":"order-1",
"TotPrice":"1000","payMethod":"Card","applDate":"20231115","applTime":"071320","applNum":"30001234",
"CARD_Num":"94909400****123*","CARD_Quota":"00","CARD_Code":"14","mid":"INIpayTest","buyerName":"홍길동",
"authSignature":"d4004fb186e859342f3d66455c6a983ed248c81ee2d7b7f2c71fda4b9891c1fb"}`

func expectForm(t *testing.T, want string, status int, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		got, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
		assert.Equal(t, "application/x-www-form-urlencoded; charset=UTF-8", r.Header.Get("Content-Type"))
		return httpmock.NewStringResponse(status, body), nil
	}
}

func TestNew_RefusesBadConfig_NamingTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field  string
		change func(*inicis.Config)
	}{
		{"Config.MID", func(c *inicis.Config) { c.MID = "" }},
		{"Config.SignKey", func(c *inicis.Config) { c.SignKey = "" }},
		{"Config.APIKey", func(c *inicis.Config) { c.APIKey = "short" }},
		{"Config.APIIV", func(c *inicis.Config) { c.APIIV = "short" }},
		{"Config.ClientIP", func(c *inicis.Config) { c.ClientIP = "localhost" }},
		{"Config.BaseURL", func(c *inicis.Config) { c.BaseURL = "iniapi.inicis.com" }},
		{"Config.IDCs", func(c *inicis.Config) {
			c.IDCs = map[string]inicis.Endpoints{"x": {AuthURL: "ftp://x", NetCancelURL: "https://x"}}
		}},
		{"Config.Timeout", func(c *inicis.Config) { c.Timeout = -time.Second }},
		{"Config.MaxAttempts", func(c *inicis.Config) { c.MaxAttempts = -1 }},
		{"Config.BackoffMin", func(c *inicis.Config) { c.BackoffMin = -time.Millisecond }},
		{"Config.BackoffMax", func(c *inicis.Config) { c.BackoffMax = -time.Millisecond }},
		{"Config.BackoffMax", func(c *inicis.Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }},
	}
	for _, tc := range tests {
		cfg := inicis.TestConfig()
		tc.change(&cfg)
		g, err := inicis.New(cfg)
		require.Error(t, err, tc.field)
		assert.Nil(t, g)
		assert.Contains(t, err.Error(), tc.field)
	}
	// Every wrong field is named at once.
	_, err := inicis.New(inicis.Config{APIKey: "short"})
	require.Error(t, err)
	for _, field := range []string{"Config.MID", "Config.SignKey", "Config.APIKey"} {
		assert.Contains(t, err.Error(), field)
	}
	// The rest has defaults: the live INIAPI host.
	g, err := inicis.New(inicis.Config{MID: inicis.TestMID, SignKey: inicis.TestSignKey})
	require.NoError(t, err)
	assert.Equal(t, "inicis.Gateway(INIpayTest, "+inicis.DefaultBaseURL+")", g.String())
}

// The Gateway holds the keys; no way of printing or logging it shows them.
func TestGateway_NeverPrintsItsKeys(t *testing.T) {
	t.Parallel()
	g, err := inicis.New(inicis.TestConfig())
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("gw", "gateway", g)
	for _, out := range []string{fmt.Sprint(g), fmt.Sprintf("%v %+v %#v", g, g, g), buf.String()} {
		assert.NotContains(t, out, inicis.TestSignKey)
		assert.NotContains(t, out, inicis.TestAPIKey)
		assert.NotContains(t, out, inicis.TestAPIIV)
	}
	assert.Contains(t, buf.String(), inicis.TestMID)
}

// Config.MaxAttempts bounds the sends of an inquiry, the one call resent
// after a 5xx, and 1 sends it once.
func TestConfig_MaxAttemptsBoundsResends(t *testing.T) {
	t.Parallel()
	for _, attempts := range []int{1, 2} {
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, inicis.TestBaseURL+"/v2/pg/inquiry", httpmock.NewStringResponder(500, "{}"))
		g := newGateway(t, mt, func(c *inicis.Config) {
			c.MaxAttempts, c.BackoffMin, c.BackoffMax = attempts, time.Millisecond, time.Millisecond
		})
		_, err := g.Lookup(context.Background(), pg.LookupRequest{OrderID: "order-1"})
		require.Error(t, err)
		assert.Equal(t, attempts, mt.GetTotalCallCount())
	}
}

func TestConfig_LogValueRedactsKeys(t *testing.T) {
	t.Parallel()
	cfg := inicis.TestConfig()
	g, err := inicis.New(cfg)
	require.NoError(t, err)
	for _, v := range []slog.Value{cfg.LogValue(), g.LogValue()} {
		s := v.Resolve().String()
		assert.NotContains(t, s, inicis.TestSignKey)
		assert.NotContains(t, s, inicis.TestAPIKey)
		assert.NotContains(t, s, inicis.TestAPIIV)
		assert.Contains(t, s, "INIpayTest")
	}
}

func TestLogs_NeverCarryKeys(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, authURL, httpmock.NewStringResponder(200, `{"resultCode":"V801"}`))
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", httpmock.NewStringResponder(502, ""))
	g := newGateway(t, mt, func(c *inicis.Config) { c.Logger = logger })
	_, _ = g.Approve(context.Background(), approveReq(nil))
	_, _ = g.Cancel(context.Background(), pg.CancelRequest{PaymentKey: tid,
		RefundAccount: &pg.RefundAccount{Bank: "04", AccountNumber: "123456789", HolderName: "홍길동"}})
	logger.Info("config", "inicis", g)
	require.NotEmpty(t, buf.String())
	for _, secret := range []string{inicis.TestSignKey, inicis.TestAPIKey, inicis.TestAPIIV, "123456789"} {
		assert.NotContains(t, buf.String(), secret)
	}
}

func expectJSON(t *testing.T, want string, status int, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		got, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
		assert.Equal(t, "application/json;charset=utf-8", r.Header.Get("Content-Type"))
		return httpmock.NewStringResponse(status, body), nil
	}
}

func TestResend_OnlyReadsAfterAPossibleEffect(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(500, "busy"),
		httpmock.NewStringResponse(200, `{"resultCode":"00","tid":"`+tid+`","oid":"order-1","price":"1000","transactionStatus":"APPROVAL"}`),
	}))
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", httpmock.NewStringResponder(500, "busy"))
	mt.RegisterResponder(http.MethodPost, authURL, httpmock.NewStringResponder(500, "busy"))
	g := newGateway(t, mt)

	_, err := g.Lookup(context.Background(), pg.LookupRequest{PaymentKey: tid})
	require.NoError(t, err, "an inquiry is resent after a 5xx")
	assert.Equal(t, 2, mt.GetCallCountInfo()["POST "+apiBase+"inquiry"])

	_, err = g.Cancel(context.Background(), pg.CancelRequest{PaymentKey: tid})
	require.ErrorIs(t, err, pg.ErrUnknown)
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+apiBase+"refund"], "a refund that may have happened is not resent")

	_, err = g.Approve(context.Background(), approveReq(nil))
	require.ErrorIs(t, err, pg.ErrUnknown)
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+authURL], "an approval that may have happened is not resent")
}

// syncBuffer is a log sink safe for the concurrent writes of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log records written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		out = append(out, rec)
	}
	return out
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func count(recs []map[string]any, msg string) int {
	n := 0
	for _, r := range recs {
		if r["msg"] == msg {
			n++
		}
	}
	return n
}

// The host's logger (Config.Logger) receives the adapter's log: the HTTP
// client's lines for each call and one line per event of its own. No line
// carries a key, a hash that was sent or received, or a card or account
// number.
func TestLogs_ConfiguredLoggerGetsEachEventOnceAndNoSecrets(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	var mu sync.Mutex
	var sent []string // every request body, to find the hashes in them
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent = append(sent, string(b))
		mu.Unlock()
	}
	refused := `{"resultCode":"V801","resultMsg":"카드사 승인거절"}`
	mt := httpmock.NewMockTransport()
	answers := []string{refused, strings.Replace(cardApproval, "d4004fb186e8", "00004fb186e8", 1), cardApproval}
	mt.RegisterResponder(http.MethodPost, authURL, func(r *http.Request) (*http.Response, error) {
		record(r)
		mu.Lock()
		a := answers[0]
		answers = answers[1:]
		mu.Unlock()
		return httpmock.NewStringResponse(200, a), nil
	})
	mt.RegisterResponder(http.MethodPost, netCancelURL, func(r *http.Request) (*http.Response, error) {
		record(r)
		return httpmock.NewStringResponse(200, `{"resultCode":"0000"}`), nil
	})
	mt.RegisterResponder(http.MethodPost, apiBase+"refund", func(r *http.Request) (*http.Response, error) {
		record(r)
		return httpmock.NewStringResponse(200, `{"resultCode":"00","cancelDate":"20231115","cancelTime":"071320"}`), nil
	})
	mt.RegisterResponder(http.MethodPost, apiBase+"inquiry", func(r *http.Request) (*http.Response, error) {
		record(r)
		return httpmock.NewStringResponse(200, inquiryAnswer("APPROVAL", "10000", "Y")), nil
	})
	g := newGateway(t, mt, func(c *inicis.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()

	_, err := g.Approve(ctx, approveReq(nil))
	require.ErrorIs(t, err, pg.ErrDeclined, "refused by the card company")
	_, err = g.Approve(ctx, approveReq(nil))
	require.ErrorIs(t, err, pg.ErrDeclined, "a forged answer, net-canceled")
	_, err = g.Approve(ctx, approveReq(nil))
	require.NoError(t, err)
	_, err = g.Cancel(ctx, pg.CancelRequest{PaymentKey: tid,
		RefundAccount: &pg.RefundAccount{Bank: "04", AccountNumber: "123456789", HolderName: "홍길동"}})
	require.NoError(t, err)
	_, err = g.ParseWebhook(ctx, pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: inicisAddr})
	require.NoError(t, err)
	_, err = g.ParseWebhook(ctx, pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: "198.51.100.7:1"})
	require.ErrorIs(t, err, pg.ErrWebhookRejected)

	recs := logs.lines(t)
	assert.Equal(t, 1, count(recs, "inicis: approval failed"), "the refusal, once")
	assert.Equal(t, 1, count(recs, "inicis: approval answer's authSignature does not match: forged or tampered answer, net-canceled"), "the forgery, once")
	assert.Equal(t, 1, count(recs, "inicis: notification rejected"), "the refused notification, once")
	assert.Equal(t, 6, count(recs, "pg attempt"), "every call: 3 approvals, a net cancel, a refund, an inquiry")
	for _, r := range recs {
		assert.Equal(t, "inicis", r["pg"], "every line names the PG: %v", r)
	}

	out := logs.String()
	secrets := []string{inicis.TestSignKey, inicis.TestAPIKey, inicis.TestAPIIV, "123456789", "qwMHVJqsmXKoR+d8wQTS4g==",
		"94909400", "d4004fb186e8", "00004fb186e8", token}
	mu.Lock()
	for _, body := range sent {
		if v, err := url.ParseQuery(body); err == nil {
			secrets = append(secrets, v.Get("signature"), v.Get("verification"))
		}
		var env struct {
			HashData string `json:"hashData"`
		}
		if json.Unmarshal([]byte(body), &env) == nil {
			secrets = append(secrets, env.HashData)
		}
	}
	mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			assert.NotContains(t, out, s)
		}
	}
}

// Without a configured logger the adapter logs through slog.Default().
// (Not parallel: it swaps the process's default logger.)
func TestLogs_DefaultLoggerIsSlogDefault(t *testing.T) {
	logs := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	cfg := inicis.TestConfig()
	cfg.HTTPClient = &http.Client{Transport: failTransport{t}}
	require.Nil(t, cfg.Logger)
	g, err := inicis.New(cfg)
	require.NoError(t, err)
	_, err = g.ParseWebhook(context.Background(), pg.WebhookRequest{Body: noti(t, nil), RemoteAddr: "198.51.100.7:1"})
	require.ErrorIs(t, err, pg.ErrWebhookRejected)
	assert.Equal(t, 1, count(logs.lines(t), "inicis: notification rejected"))
}
