package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/adminstore"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// operatorToken is the test console's token.
const operatorToken = "console-test-token-0123456789"

// clock is a clock tests move by hand (the login limit, session expiry).
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// shop is an order service that always succeeds.
type shop struct{}

func (shop) CreateOrder(context.Context, paygate.OrderRequest) error   { return nil }
func (shop) RollbackOrder(context.Context, paygate.OrderRequest) error { return nil }

// console is a paygate with the Toss and Inicis sandboxes, the console
// mounted at /admin/ and the webhook intake at /webhooks/{pg}, behind a real
// HTTP listener.
type console struct {
	t      *testing.T
	url    string
	pay    *paygate.Paygate
	db     *store.DB
	toss   *tosspaytest.Server
	inicis *inicistest.Server
	clock  *clock
	srv    *httptest.Server
}

// newConsole starts a console on db; tweak adjusts its Config.
func newConsole(t *testing.T, db *store.DB, tweak ...func(*admin.Config)) *console {
	t.Helper()
	c := &console{t: t, db: db, clock: &clock{}}
	var handler atomic.Pointer[http.Handler]
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	c.url = c.srv.URL

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c.toss = tosspaytest.NewServer(tosspaytest.Options{HoldMax: 2 * time.Second, WebhookURL: c.url + "/webhooks/tosspay",
		WebhookSchedule: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}})
	t.Cleanup(c.toss.Close)
	toss, err := tosspay.New(tosspay.Config{SecretKey: c.toss.SecretKey(), BaseURL: c.toss.URL, Timeout: 5 * time.Second,
		MaxAttempts: 2, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: quiet})
	require.NoError(t, err)
	c.inicis = inicistest.NewServer(inicistest.Config{})
	t.Cleanup(c.inicis.Close)
	ini, err := inicis.New(c.inicis.GatewayConfig())
	require.NoError(t, err)
	reg, err := pg.NewRegistry(toss, ini)
	require.NoError(t, err)

	c.pay, err = paygate.New(paygate.Config{
		DB: db, Gateways: reg, Orders: shop{}, Fees: settlement.RateFee{Rate: decimal.RequireFromString("0.032")},
		ClientKeys:   map[string]string{"tosspay": "test_ck_console"},
		SettleDelay:  300 * time.Millisecond,
		ResolveRetry: saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		OrderRetry:   saga.Policy{MaxAttempts: 4, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		RefundRetry:  saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, AlertAfter: 3},
		Runner:       saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second}},
		Outbox:       outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}},
		Logger:       quiet,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.pay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	auth, err := admin.NewTokenAuthenticator(operatorToken, admin.Operator{ID: "ops-1", Name: "Operations"})
	require.NoError(t, err)
	cfg := admin.Config{Paygate: c.pay, Store: adminstore.New(db), Auth: auth, Now: c.clock.Now, Logger: quiet,
		LoginLimit: 5, LoginWindow: time.Minute}
	for _, fn := range tweak {
		fn(&cfg)
	}
	con, err := admin.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/", con)
	mux.Handle("POST /webhooks/{pg}", c.pay.WebhookHandler())
	var h http.Handler = mux
	handler.Store(&h)
	return c
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *console) hasEvents(id string, types ...string) bool {
	v, err := c.pay.Payment(context.Background(), id)
	require.NoError(c.t, err)
	have := map[string]bool{}
	for _, e := range v.Events {
		have[e.Type] = true
	}
	for _, typ := range types {
		if !have[typ] {
			return false
		}
	}
	return true
}

// paid runs a checkout and its approval through a PG's sandbox and waits
// until the order and the ledger have it (and, for Toss, its webhook).
func (c *console) paid(pgName, orderID, orderName string, amount int64) string {
	c.t.Helper()
	ctx := context.Background()
	_, err := c.pay.Prepare(ctx, paygate.PrepareRequest{OrderID: orderID, OrderName: orderName, Amount: pg.Won(amount), PG: pgName,
		SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail"})
	require.NoError(c.t, err)
	var sb pgtest.Sandbox = c.inicis
	if pgName == "tosspay" {
		sb = c.toss
	}
	res, err := sb.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount)})
	require.NoError(c.t, err)
	out, err := c.pay.Approve(ctx, paygate.ApproveRequest{PG: pgName, OrderID: orderID, Amount: pg.Won(amount), PaymentKey: res.PaymentKey, Redirect: res.Redirect})
	require.NoError(c.t, err)
	require.Equal(c.t, pg.StatusApproved, out.Status)
	want := []string{paygate.EventOrderCreated, paygate.EventSettlementRecorded}
	if pgName == "tosspay" {
		want = append(want, paygate.EventWebhookReceived)
	}
	eventually(c.t, "payment "+out.PaymentID+" to settle", func() bool { return c.hasEvents(out.PaymentID, want...) })
	return out.PaymentID
}

// refused makes the Inicis sandbox refuse the payment's next partial
// refund for good, asks for one, and returns the saga the queue then holds.
func (c *console) refused(paymentID string, amount int64) paygate.Attention {
	c.t.Helper()
	require.NoError(c.t, c.inicis.FailNext(pgtest.OpCancel, "", pgtest.FaultDecline))
	_, err := c.pay.Cancel(context.Background(), paygate.CancelRequest{PaymentID: paymentID, Amount: pg.Won(amount), Reason: "refused by the PG"})
	require.ErrorIs(c.t, err, paygate.ErrPG)
	var item paygate.Attention
	eventually(c.t, "the refused refund in the queue", func() bool {
		list, err := c.pay.Unresolved(context.Background(), 0, 100)
		require.NoError(c.t, err)
		for _, a := range list {
			if a.PaymentID == paymentID && a.Kind == paygate.AttentionSaga && a.State == string(saga.NeedsAttention) {
				item = a
				return true
			}
		}
		return false
	})
	return item
}

// response is an answer of the console.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body %s", r.Body)
	return m
}

func (r response) code(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	require.Equal(t, false, m["success"], "%s", r.Body)
	e, _ := m["error"].(map[string]any)
	require.NotEmpty(t, e["message"], "%s", r.Body)
	code, _ := e["code"].(string)
	return code
}

// client is an HTTP client of the console: bearer (token set) or a
// browser's session (a cookie jar).
type client struct {
	c     *console
	token string
	hc    *http.Client
	csrf  string
	mu    sync.Mutex
}

func (c *console) bearer(token string) *client {
	return &client{c: c, token: token, hc: &http.Client{Timeout: time.Minute}}
}

// session logs in through the login form and returns a client holding the
// session cookie and its CSRF token (read from a page).
func (c *console) session(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	cl := &client{c: c, hc: &http.Client{Jar: jar, Timeout: time.Minute}}
	resp, err := cl.hc.PostForm(c.url+"/admin/login", url.Values{"token": {operatorToken}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "login lands on the dashboard: %s", body)
	i := strings.Index(string(body), `data-csrf="`)
	require.Positive(t, i, "the page carries the CSRF token")
	rest := string(body[i+len(`data-csrf="`):])
	cl.csrf = rest[:strings.Index(rest, `"`)]
	require.NotEmpty(t, cl.csrf)
	return cl
}

// do sends a request; body is sent as JSON unless it is a string.
func (cl *client) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, cl.c.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := cl.hc.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}
