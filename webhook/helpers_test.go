package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// testPG is a small PG whose webhooks are JSON signed with the payment's
// secret (HMAC-SHA256 of the body in X-Test-Signature). Its gateway calls are
// never used by the intake and fail if called.
type testPG struct {
	name string
	ack  bool // answer "OK" like Inicis
	// unavailable makes verification fail as if the PG's fetch-back timed
	// out.
	unavailable atomic.Bool

	// truth is the PG's own record of payments by payment key: a LOOKUP
	// notification carries no proof and is confirmed by it.
	mu    sync.Mutex
	truth map[string]pg.Payment
}

// record sets the PG's own record of a payment.
func (p *testPG) record(pay pg.Payment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.truth == nil {
		p.truth = map[string]pg.Payment{}
	}
	pay.PG = p.name
	p.truth[pay.PaymentKey] = pay
}

func (p *testPG) Name() string                  { return p.name }
func (p *testPG) Capabilities() pg.Capabilities { return pg.Capabilities{Webhooks: true} }
func (p *testPG) Approve(context.Context, pg.ApproveRequest) (*pg.Payment, error) {
	return nil, errors.New("testpg: not used")
}
func (p *testPG) Cancel(context.Context, pg.CancelRequest) (*pg.Payment, error) {
	return nil, errors.New("testpg: not used")
}
func (p *testPG) Lookup(context.Context, pg.LookupRequest) (*pg.Payment, error) {
	return nil, errors.New("testpg: not used")
}

// ackPG is testPG with the Inicis-style answer.
type ackPG struct{ testPG }

func (p *ackPG) AckWebhook(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK")
}

// notification is the test PG's webhook body.
type notification struct {
	ID         string `json:"id"`
	Type       string `json:"type,omitempty"`
	PaymentKey string `json:"paymentKey"`
	OrderID    string `json:"orderId"`
	Status     string `json:"status"`
	Amount     int64  `json:"amount"`
	Secret     string `json:"secret"`
	Pad        string `json:"pad,omitempty"`
}

func (p *testPG) ParseWebhook(ctx context.Context, req pg.WebhookRequest) (*pg.WebhookEvent, error) {
	var n notification
	if err := json.Unmarshal(req.Body, &n); err != nil {
		return nil, &pg.Error{PG: p.name, Op: "webhook", Kind: pg.KindInvalid, Code: "MALFORMED", Message: err.Error()}
	}
	if n.Type == "IGNORED" {
		return nil, nil
	}
	if p.unavailable.Load() {
		return nil, &pg.Error{PG: p.name, Op: "webhook", Kind: pg.KindUnavailable, Message: "lookup timed out"}
	}
	if n.Type == "LOOKUP" {
		// No proof in the delivery: the PG's record is the news.
		p.mu.Lock()
		truth, ok := p.truth[n.PaymentKey]
		p.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("%s: the PG has no payment %q: %w", p.name, n.PaymentKey, pg.ErrWebhookRejected)
		}
		return &pg.WebhookEvent{
			Type: pg.WebhookPaymentStatus, DedupKey: n.ID, PaymentKey: n.PaymentKey, OrderID: n.OrderID,
			Status: truth.Status, Amount: truth.Amount, Payment: &truth, ByLookup: true,
		}, nil
	}
	secret, ok := req.Secret(ctx, n.PaymentKey, n.OrderID)
	if !ok {
		return nil, fmt.Errorf("%s: unknown payment %q: %w", p.name, n.PaymentKey, pg.ErrWebhookRejected)
	}
	want := sign(secret, req.Body)
	if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Test-Signature"))) || n.Secret != secret {
		return nil, fmt.Errorf("%s: signature mismatch: %w", p.name, pg.ErrWebhookRejected)
	}
	return &pg.WebhookEvent{
		Type:       pg.WebhookPaymentStatus,
		DedupKey:   n.ID,
		PaymentKey: n.PaymentKey,
		OrderID:    n.OrderID,
		Status:     pg.Status(n.Status),
		Amount:     pg.Won(n.Amount),
		OccurredAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Payment: &pg.Payment{
			PG: p.name, PaymentKey: n.PaymentKey, OrderID: n.OrderID, Status: pg.Status(n.Status),
			Amount: pg.Won(n.Amount), Secret: secret,
		},
	}, nil
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// secrets is the host's store of per-payment webhook secrets.
var secrets = map[string]string{"testpg/pk_1": "ps_secret_1", "ackpg/pk_1": "ps_secret_1", "testpg/pk_2": "ps_secret_2"}

func lookupSecret(_ context.Context, pgName, paymentKey, _ string) (string, bool) {
	s, ok := secrets[pgName+"/"+paymentKey]
	return s, ok
}

// payments is the host's data the test effect moves: one table of payment
// statuses and a log of every committed effect.
func createPaymentTables(t testing.TB, db *store.DB, initial map[string]pg.Status) {
	t.Helper()
	for _, ddl := range []string{
		"CREATE TABLE test_payments (order_id VARCHAR(64) NOT NULL PRIMARY KEY, status VARCHAR(32) NOT NULL)",
		"CREATE TABLE test_effects (dedup_key VARCHAR(255) NOT NULL, status VARCHAR(32) NOT NULL)",
	} {
		_, err := db.SQL().Exec(ddl)
		require.NoError(t, err)
	}
	for order, st := range initial {
		_, err := db.SQL().Exec("INSERT INTO test_payments (order_id, status) VALUES (?, ?)", order, string(st))
		require.NoError(t, err)
	}
}

// monotonicEffect moves a payment only forward (pg.CanTransition); late or
// out-of-order news changes nothing and is still success.
func monotonicEffect(db *store.DB) webhook.Effect {
	return func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
		q := "SELECT status FROM test_payments WHERE order_id = ?"
		if db.Dialect() == store.MySQL {
			q += " FOR UPDATE"
		}
		var cur string
		if err := tx.QueryRowContext(ctx, q, ev.OrderID).Scan(&cur); err != nil {
			return fmt.Errorf("load payment %s: %w", ev.OrderID, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO test_effects (dedup_key, status) VALUES (?, ?)", ev.DedupKey, string(ev.Status)); err != nil {
			return err
		}
		if !pg.CanTransition(pg.Status(cur), ev.Status) {
			return nil
		}
		_, err := tx.ExecContext(ctx, "UPDATE test_payments SET status = ? WHERE order_id = ?", string(ev.Status), ev.OrderID)
		return err
	}
}

// logBuffer collects log output so tests can check what was (not) logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type env struct {
	db     *store.DB
	srv    *httptest.Server
	intake *webhook.Intake
	logs   *logBuffer
	test   *testPG
	ack    *ackPG
}

// newEnv mounts the intake at POST /webhooks/{pg} on a real HTTP server,
// with the test PGs registered. mod may change the config.
func newEnv(t testing.TB, db *store.DB, effect webhook.Effect, mod func(*webhook.Config)) *env {
	t.Helper()
	e := &env{db: db, logs: &logBuffer{}, test: &testPG{name: "testpg"}, ack: &ackPG{testPG{name: "ackpg", ack: true}}}
	reg, err := pg.NewRegistry(e.test, e.ack, noWebhooks{})
	require.NoError(t, err)
	cfg := webhook.Config{
		Registry: reg,
		Store:    webhookstore.New(db),
		Effect:   effect,
		Secret:   lookupSecret,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	e.intake, err = webhook.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", e.intake)
	mux.Handle("/webhooks/{pg}", e.intake) // lets the intake answer other methods itself
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// noWebhooks is a PG without webhook support.
type noWebhooks struct{}

func (noWebhooks) Name() string                  { return "nowebhooks" }
func (noWebhooks) Capabilities() pg.Capabilities { return pg.Capabilities{} }
func (noWebhooks) Approve(context.Context, pg.ApproveRequest) (*pg.Payment, error) {
	return nil, errors.New("not used")
}
func (noWebhooks) Cancel(context.Context, pg.CancelRequest) (*pg.Payment, error) {
	return nil, errors.New("not used")
}
func (noWebhooks) Lookup(context.Context, pg.LookupRequest) (*pg.Payment, error) {
	return nil, errors.New("not used")
}

type answer struct {
	Status int
	Body   string
}

// deliver POSTs a signed notification the way the PG would.
func (e *env) deliver(t testing.TB, pgName string, n notification, secret string) answer {
	t.Helper()
	body, err := json.Marshal(n)
	require.NoError(t, err)
	return e.deliverRaw(t, pgName, body, map[string]string{
		"Content-Type":     "application/json",
		"X-Test-Signature": sign(secret, body),
		"Authorization":    "Basic dGVzdF9za186",
	})
}

func (e *env) deliverRaw(t testing.TB, pgName string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/"+pgName, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{Status: resp.StatusCode, Body: string(b)}
}

func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.SQL().QueryRow(query, args...).Scan(&n))
	return n
}

func (e *env) deliveries(t testing.TB) int {
	return e.count(t, "SELECT COUNT(*) FROM webhook_deliveries")
}

func (e *env) effects(t testing.TB) int { return e.count(t, "SELECT COUNT(*) FROM test_effects") }

func (e *env) status(t testing.TB, order string) pg.Status {
	t.Helper()
	var s string
	require.NoError(t, e.db.SQL().QueryRow("SELECT status FROM test_payments WHERE order_id = ?", order).Scan(&s))
	return pg.Status(s)
}

func (e *env) deliveryID(t testing.TB, pgName, dedup string) string {
	t.Helper()
	var id string
	require.NoError(t, e.db.SQL().QueryRow("SELECT id FROM webhook_deliveries WHERE pg = ? AND dedup_key = ?", pgName, dedup).Scan(&id))
	return id
}

func errorCode(t testing.TB, a answer) string {
	t.Helper()
	var e struct {
		Success *bool `json:"success"`
		Error   struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &e), "body %q", a.Body)
	require.NotNil(t, e.Success)
	require.False(t, *e.Success)
	return e.Error.Code
}
