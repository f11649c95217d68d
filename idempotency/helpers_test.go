package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
)

// clock is a settable clock for leases and expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// quietLogger keeps expected warnings (lost leases, panics) out of test
// output unless the test fails.
func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newManager builds a manager on db's key store with a test clock; mod may
// change the config before New.
func newManager(t testing.TB, db *store.DB, mod func(*idempotency.Config)) (*idempotency.Manager, *clock) {
	t.Helper()
	clk := newClock()
	cfg := idempotency.Config{
		Store:  idemstore.NewKeys(db),
		Scope:  func(r *http.Request) string { return r.Header.Get("X-Tenant") },
		Now:    clk.Now,
		Logger: quietLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := idempotency.New(cfg)
	require.NoError(t, err)
	return m, clk
}

// serve mounts h (already wrapped) as POST /payments/approve on a real HTTP
// server.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /payments/approve", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) errorCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Success *bool `json:"success"`
		Error   struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &e), "error body %q", r.Body)
	require.NotNil(t, e.Success)
	require.False(t, *e.Success)
	require.NotEmpty(t, e.Error.Message)
	return e.Error.Code
}

// post sends a request with the given key header values (none when keys is
// empty) and returns the whole answer.
func post(t testing.TB, ctx context.Context, url string, body []byte, keys ...string) (reply, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/payments/approve", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add(idempotency.HeaderKey, k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func mustPost(t testing.TB, url string, body []byte, keys ...string) reply {
	t.Helper()
	r, err := post(t, context.Background(), url, body, keys...)
	require.NoError(t, err)
	return r
}

func countKeys(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM idempotency_keys").Scan(&n))
	return n
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
