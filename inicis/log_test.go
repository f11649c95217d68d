package inicis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
)

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
