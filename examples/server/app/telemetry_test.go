package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// get fetches path over HTTP and returns the status, content type and body.
func (a *testApp) get(t testing.TB, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(a.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// readyz fetches /readyz and decodes its answer.
func (a *testApp) readyz(t testing.TB) (int, readyAnswer) {
	t.Helper()
	status, ctype, body := a.get(t, "/readyz")
	require.Contains(t, ctype, "application/json")
	var ans readyAnswer
	require.NoError(t, json.Unmarshal(body, &ans), "%s", body)
	return status, ans
}

func check(ans readyAnswer, name string) readyCheck {
	for _, c := range ans.Checks {
		if c.Name == name {
			return c
		}
	}
	return readyCheck{Name: name + " (missing)"}
}

// approvedTotal reads paygate_approvals_total for tosspay's approved card
// payments from a Prometheus text exposition.
var approvedTotal = regexp.MustCompile(`(?m)^paygate_approvals_total\{[^}]*\}\s+(\S+)$`)

// TestReadyzAndMetrics_OverHTTP checks /readyz's answers while the runners
// are not yet running, running, after a migration goes missing, once they
// stopped and once the database is gone; and that /metrics serves
// paygate's metrics in the Prometheus format after an approval.
func TestReadyzAndMetrics_OverHTTP(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tel, err := NewTelemetry(ctx, TelemetryConfig{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			a := newTestApp(t, d, func(c *Config) {
				c.MeterProvider, c.TracerProvider, c.Metrics = tel.MeterProvider, tel.TracerProvider, tel.Metrics
			})

			status, ans := a.readyz(t)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.False(t, ans.Ready)
			assert.Equal(t, []string{"saga_runner", "outbox"}, ans.Failed, "the runners are not running yet")
			assert.True(t, check(ans, "database").OK)
			assert.True(t, check(ans, "migrations").OK)
			assert.Equal(t, "not running", check(ans, "saga_runner").Error)

			runCtx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- a.Run(runCtx) }()
			stopped := false
			stopRun := func() {
				if !stopped {
					stopped = true
					stop()
					require.NoError(t, <-ran)
				}
			}
			t.Cleanup(stopRun)
			deadline := time.Now().Add(30 * time.Second)
			for {
				status, ans = a.readyz(t)
				if status == http.StatusOK || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			require.Equal(t, http.StatusOK, status, "%+v", ans)
			assert.True(t, ans.Ready)
			assert.Empty(t, ans.Failed)
			assert.NotNil(t, check(ans, "outbox").LastLoop)

			// An approval, then its counter in the Prometheus exposition.
			orderID := "metrics-" + string(d)
			st, co := a.post(t, "/checkouts", map[string]any{"orderId": orderID, "amount": 15000, "pg": "tosspay", "orderName": "mug"})
			require.Equal(t, http.StatusCreated, st, "%v", co)
			st, redirect := a.post(t, "/sandbox/tosspay/pay", map[string]any{"orderId": orderID, "amount": 15000})
			require.Equal(t, http.StatusOK, st, "%v", redirect)
			body := map[string]any{"pg": "tosspay", "orderId": orderID, "amount": 15000}
			for k, v := range redirect {
				body[k] = v
			}
			st, approved := a.post(t, "/payments/approve", body)
			require.Equal(t, http.StatusOK, st, "%v", approved)
			require.Equal(t, "APPROVED", approved["status"])

			status, ctype, raw := a.get(t, "/metrics")
			require.Equal(t, http.StatusOK, status)
			assert.Contains(t, ctype, "text/plain")
			text := string(raw)
			var approvedLine string
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "paygate_approvals_total{") && strings.Contains(line, `paygate_outcome="approved"`) {
					approvedLine = line
				}
			}
			require.NotEmpty(t, approvedLine, "paygate_approvals_total in:\n%s", text)
			assert.Contains(t, approvedLine, `paygate_pg="tosspay"`)
			assert.Contains(t, approvedLine, `paygate_payment_method="CARD"`)
			m := approvedTotal.FindStringSubmatch(approvedLine)
			require.Len(t, m, 2)
			assert.Equal(t, "1", m[1])
			for _, name := range []string{
				"paygate_pg_call_duration_seconds_bucket{", "paygate_saga_steps_total{", "paygate_unknown_open{",
				"paygate_outbox_lag_seconds", "paygate_outbox_dead", "go_goroutines",
			} {
				assert.Contains(t, text, name)
			}
			assert.NotContains(t, text, testToken)

			// A migration this binary knows that the database lacks.
			var version int64
			var name, sum string
			var appliedAt time.Time
			sqlDB := a.DB().SQL()
			require.NoError(t, sqlDB.QueryRowContext(ctx, `SELECT version, name, checksum, applied_at FROM paygate_schema_migrations
WHERE version = 500`).Scan(&version, &name, &sum, &appliedAt))
			_, err = sqlDB.ExecContext(ctx, `DELETE FROM paygate_schema_migrations WHERE version = 500`)
			require.NoError(t, err)
			status, ans = a.readyz(t)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.Equal(t, []string{"migrations"}, ans.Failed)
			assert.Equal(t, []string{"store/0500_trace_context"}, check(ans, "migrations").Pending)
			_, err = sqlDB.ExecContext(ctx, `INSERT INTO paygate_schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
				version, name, sum, appliedAt)
			require.NoError(t, err)
			status, _ = a.readyz(t)
			assert.Equal(t, http.StatusOK, status)

			stopRun()
			status, ans = a.readyz(t)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.Equal(t, []string{"saga_runner", "outbox"}, ans.Failed)

			require.NoError(t, sqlDB.Close())
			status, ans = a.readyz(t)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.Equal(t, []string{"database", "migrations", "saga_runner", "outbox"}, ans.Failed)
			assert.Equal(t, "the database does not answer", check(ans, "database").Error)

		})
	}
}

// TestTelemetry_TracesToStdoutAndOTLP sends a span through each exporter
// the server offers: a JSON line on the stdout writer, and an OTLP/HTTP
// export to the endpoint OTEL_EXPORTER_OTLP_ENDPOINT names.
func TestTelemetry_TracesToStdoutAndOTLP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var bodies int
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		bodies += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("PAYGATE_TRACE_STDOUT", "")

	cfg := TelemetryFromEnv()
	require.True(t, cfg.OTLP)
	require.Nil(t, cfg.Stdout)
	var out bytes.Buffer
	cfg.Stdout = &out
	tel, err := NewTelemetry(context.Background(), cfg)
	require.NoError(t, err)
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "paygate.Approve")
	span.End()
	require.NoError(t, tel.Shutdown(context.Background()))

	assert.Contains(t, out.String(), `"Name":"paygate.Approve"`)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"POST /v1/traces application/x-protobuf"}, paths)
	assert.Positive(t, bodies)

	// Without an exporter nothing is sampled.
	tel, err = NewTelemetry(context.Background(), TelemetryConfig{})
	require.NoError(t, err)
	_, span = tel.TracerProvider.Tracer("test").Start(context.Background(), "x")
	assert.False(t, span.IsRecording())
	span.End()
	require.NoError(t, tel.Shutdown(context.Background()))
}
