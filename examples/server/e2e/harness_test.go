package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// knownPGs are the gateways the example server may serve; the tests run for
// every one of them the server runs as a sandbox.
var knownPGs = []string{"tosspay", "kakaopay", "inicis"}

// waitFor is how long a scenario may take to settle: generous, for a loaded
// two-core machine under -race.
const waitFor = 30 * time.Second

// server is the example server under test: the app behind a real HTTP
// listener whose address is its public URL, so the sandbox PGs it serves
// are called over HTTP through it.
type server struct {
	t      *testing.T
	app    *app.App
	url    string
	client *http.Client
	alerts atomic.Int64

	spec   *openapi3.T
	router routers.Router

	// While holding, webhooks the sandbox PGs send are kept (and
	// acknowledged) instead of reaching the app; tests deliver them
	// themselves, in any order.
	holding atomic.Bool
	heldMu  sync.Mutex
	held    []pgtest.WebhookDelivery

	// hook, when set, sees every request first (the app's own calls to
	// the sandbox PGs it serves included) and reports whether it answered.
	hook atomic.Pointer[func(w http.ResponseWriter, r *http.Request, app http.Handler) bool]
}

// operatorToken is the test servers' operator token; asOperator is the
// header that sends it.
const operatorToken = "e2e-operator-token-f00d"

var asOperator = []string{"Authorization", "Bearer " + operatorToken}

// fromTest marks webhook deliveries a test sends itself, so holding does
// not catch them.
const fromTest = "X-E2E-Delivery"

// fastRetries makes paygate's retries, leases and polls quick (the values
// of the flow's own tests) and counts alerts.
func fastRetries(alerts *atomic.Int64) func(*paygate.Config) {
	return func(c *paygate.Config) {
		c.SettleDelay = 300 * time.Millisecond
		c.ResolveRetry = saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
		// Slow enough that a test can script the PG's refund between the
		// approval and the order's failure.
		c.OrderRetry = saga.Policy{MaxAttempts: 4, InitialBackoff: 150 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
		c.RefundRetry = saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, AlertAfter: 3}
		c.Runner = saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second}}
		c.Outbox = outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}}
		prev := c.OnAlert
		c.OnAlert = func(a saga.Alert) {
			alerts.Add(1)
			if prev != nil {
				prev(a)
			}
		}
	}
}

// eachDialect runs fn against a fresh example server on SQLite and on
// MariaDB.
func eachDialect(t *testing.T, fn func(t *testing.T, s *server)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, startServer(t, d)) })
	}
}

// eachPG runs fn for every PG the server runs as a sandbox.
func (s *server) eachPG(t *testing.T, fn func(t *testing.T, pgName string)) {
	t.Helper()
	names := s.sandboxPGs()
	require.NotEmpty(t, names, "the example server serves no sandbox PG")
	for _, name := range names {
		t.Run(name, func(t *testing.T) { fn(t, name) })
	}
}

func (s *server) sandboxPGs() []string {
	var out []string
	for _, name := range knownPGs {
		if s.app.Sandbox(name) != nil {
			out = append(out, name)
		}
	}
	return out
}

func startServer(t *testing.T, d store.Dialect) *server {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	s := &server{t: t}

	var handler atomic.Pointer[http.Handler]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if hk := s.hook.Load(); hk != nil && (*hk)(w, r, *h) {
			return
		}
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			if r.Header.Get(fromTest) == "" && s.holding.Load() {
				s.hold(w, r)
				return
			}
			r.Header.Del(fromTest)
		}
		(*h).ServeHTTP(w, r)
	}))
	s.url = ts.URL

	a, err := app.New(context.Background(), app.Config{
		DB: dsn, PublicURL: ts.URL, Tune: fastRetries(&s.alerts), AdminToken: operatorToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	s.app = a
	h := a.Handler()
	handler.Store(&h)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		ts.Close()
		require.NoError(t, a.Close())
	})

	s.loadSpec()
	s.client = &http.Client{Timeout: time.Minute, Transport: &validating{s: s, base: http.DefaultTransport}}
	return s
}

func (s *server) hold(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.heldMu.Lock()
	s.held = append(s.held, pgtest.WebhookDelivery{Header: r.Header.Clone(), Body: body, RemoteAddr: r.RemoteAddr})
	s.heldMu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// releaseHeld stops holding and delivers what was held, in order.
func (s *server) releaseHeld(t *testing.T, pgName string) {
	t.Helper()
	s.holding.Store(false)
	s.heldMu.Lock()
	held := s.held
	s.held = nil
	s.heldMu.Unlock()
	for _, d := range held {
		resp := s.deliver(t, pgName, d)
		require.Equal(t, http.StatusOK, resp.Status, "the PG's own delivery: %s", resp)
	}
}

// heldWebhooks returns the deliveries held so far.
func (s *server) heldWebhooks() []pgtest.WebhookDelivery {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	return append([]pgtest.WebhookDelivery(nil), s.held...)
}

// deliver posts a webhook delivery to the server as the PG would.
func (s *server) deliver(t *testing.T, pgName string, d pgtest.WebhookDelivery) response {
	t.Helper()
	headers := []string{fromTest, "1"}
	for k := range d.Header {
		headers = append(headers, k, d.Header.Get(k))
	}
	return s.do(t, http.MethodPost, "/webhooks/"+pgName, d.Body, headers...)
}

// loadSpec loads the server's OpenAPI document, served at this server's
// address.
func (s *server) loadSpec() {
	spec, err := openapi3.NewLoader().LoadFromData(app.OpenAPI)
	require.NoError(s.t, err)
	require.NoError(s.t, spec.Validate(context.Background()), "the OpenAPI document is valid")
	spec.Servers = openapi3.Servers{{URL: s.url}}
	router, err := gorillamux.NewRouter(spec)
	require.NoError(s.t, err)
	s.spec, s.router = spec, router
}

// testKey carries the running (sub)test in a request's context, so a
// mismatch is reported where it happened.
type testKey struct{}

// validating checks every answer of the example server against its OpenAPI
// document: the route and status must be documented and the body must
// match the schema.
type validating struct {
	s    *server
	base http.RoundTripper
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := v.s.conforms(req, resp.StatusCode, resp.Header, body); err != nil {
		t := v.s.t
		if rt, ok := req.Context().Value(testKey{}).(*testing.T); ok {
			t = rt
		}
		t.Errorf("%s %s → %d %s\nthe answer does not match the OpenAPI document: %v", req.Method, req.URL.Path, resp.StatusCode, clip(body), err)
	}
	return resp, nil
}

func (s *server) conforms(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("undocumented route: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// response is an answer of the server.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.Status, clip(r.Body)) }

// json decodes the body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body %s", clip(r.Body))
	return m
}

// errorCode is error.code of an error answer.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	require.Equal(t, false, m["success"], "an error answer says success:false: %s", r)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "an error answer has an error object: %s", r)
	require.NotEmpty(t, e["message"], "the error has a message: %s", r)
	code, _ := e["code"].(string)
	require.NotEmpty(t, code, "the error has a code: %s", r)
	return code
}

// do sends a request; body is a string or []byte sent as is, or a value
// sent as JSON. headers are name/value pairs.
func (s *server) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.WithValue(context.Background(), testKey{}, t), method, s.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// newOrderID returns an order id no other test uses, at most 40 bytes (the
// shortest limit among the PGs).
func newOrderID(tag string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	if len(tag) > 20 {
		tag = tag[:20]
	}
	return "e2e-" + tag + "-" + hex.EncodeToString(b[:])
}

// buyer is one checkout as the shop's pages drive it.
type buyer struct {
	PG      string
	OrderID string
	Amount  int64
}

// checkout places the example order and prepares its payment; sandbox
// scripts the order service's failure ({"orderFailure": ..., "times": ...}).
func (s *server) checkout(t *testing.T, b buyer, sandbox map[string]any) map[string]any {
	t.Helper()
	req := map[string]any{"orderId": b.OrderID, "amount": b.Amount, "pg": b.PG, "orderName": "e2e order"}
	if sandbox != nil {
		req["sandbox"] = sandbox
	}
	resp := s.do(t, http.MethodPost, "/checkouts", req)
	require.Equal(t, http.StatusCreated, resp.Status, "checkout: %s", resp)
	return resp.json(t)
}

// pay plays the buyer in the sandbox PG's window; the answer is what the
// PG's redirect carries. The example server's sandboxes cut a lost answer's
// connection at once (no HoldMax), so a scripted timeout is an unknown
// outcome without the wait.
func (s *server) pay(t *testing.T, b buyer, fault string) map[string]any {
	t.Helper()
	resp := s.do(t, http.MethodPost, "/sandbox/"+b.PG+"/pay", map[string]any{"orderId": b.OrderID, "amount": b.Amount, "fault": fault})
	require.Equal(t, http.StatusOK, resp.Status, "sandbox pay: %s", resp)
	return resp.json(t)
}

// approveBody is what the shop's return page posts to /payments/approve
// after the PG's redirect.
func approveBody(b buyer, redirect map[string]any) map[string]any {
	body := map[string]any{"pg": b.PG, "orderId": b.OrderID, "amount": b.Amount}
	for k, v := range redirect {
		body[k] = v
	}
	return body
}

// prepareAndPay runs checkout and the buyer's payment and returns the
// approve request body.
func (s *server) prepareAndPay(t *testing.T, b buyer, fault string, sandbox map[string]any) map[string]any {
	t.Helper()
	s.checkout(t, b, sandbox)
	return approveBody(b, s.pay(t, b, fault))
}

// approve posts an approval; key, when set, is its Idempotency-Key.
func (s *server) approve(t *testing.T, body any, key string) response {
	t.Helper()
	var headers []string
	if key != "" {
		headers = []string{"Idempotency-Key", key}
	}
	return s.do(t, http.MethodPost, "/payments/approve", body, headers...)
}

// approveResult checks an approval answer's shape for its status and
// returns the payment id.
func approveResult(t *testing.T, resp response, wantStatus int, wantPayment string) string {
	t.Helper()
	require.Equal(t, wantStatus, resp.Status, "approve: %s", resp)
	m := resp.json(t)
	id, _ := m["paymentId"].(string)
	require.NotEmpty(t, id, "approve names the payment: %s", resp)
	require.Equal(t, wantPayment, m["status"], "approve: %s", resp)
	switch wantStatus {
	case http.StatusOK:
		require.Equal(t, true, m["success"])
		if wantPayment == "APPROVED" {
			require.NotEmpty(t, m["approvedAt"], "an approval says when")
		}
	case http.StatusPaymentRequired:
		require.Equal(t, false, m["success"])
		e, _ := m["error"].(map[string]any)
		require.NotEmpty(t, e["code"], "a decline says why: %s", resp)
		require.NotEmpty(t, e["message"], "a decline says why: %s", resp)
	case http.StatusAccepted:
		require.Equal(t, false, m["success"])
	}
	return id
}

// paymentJSON is GET /payments/{id}.
type paymentJSON struct {
	PaymentID      string      `json:"paymentId"`
	OrderID        string      `json:"orderId"`
	PG             string      `json:"pg"`
	Amount         json.Number `json:"amount"`
	Currency       string      `json:"currency"`
	Status         string      `json:"status"`
	ApprovedAt     *time.Time  `json:"approvedAt"`
	CanceledAmount json.Number `json:"canceledAmount"`
	BalanceAmount  json.Number `json:"balanceAmount"`
	Cancels        []struct {
		CancelID string      `json:"cancelId"`
		Amount   json.Number `json:"amount"`
		Reason   string      `json:"reason"`
		Status   string      `json:"status"`
	} `json:"cancels"`
	Events []struct {
		EventType  string    `json:"eventType"`
		OccurredAt time.Time `json:"occurredAt"`
	} `json:"events"`
}

func (p paymentJSON) count(eventType string) int {
	n := 0
	for _, e := range p.Events {
		if e.EventType == eventType {
			n++
		}
	}
	return n
}

func (s *server) payment(t *testing.T, id string) paymentJSON {
	t.Helper()
	resp := s.do(t, http.MethodGet, "/payments/"+id, nil)
	require.Equal(t, http.StatusOK, resp.Status, "payment: %s", resp)
	var p paymentJSON
	require.NoError(t, json.Unmarshal(resp.Body, &p))
	require.Equal(t, id, p.PaymentID)
	return p
}

func (s *server) order(t *testing.T, id string) app.Order {
	t.Helper()
	resp := s.do(t, http.MethodGet, "/orders/"+id, nil)
	require.Equal(t, http.StatusOK, resp.Status, "order: %s", resp)
	var o app.Order
	require.NoError(t, json.Unmarshal(resp.Body, &o))
	return o
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// settled waits until nothing about the payment is in flight: no saga of it
// is running or compensating, its outcome is known, and its events are
// delivered. A saga that needs an operator counts as settled; checkOrder
// says whether that was expected.
func (s *server) settled(t *testing.T, paymentID string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "payment "+paymentID+" to settle", func() bool {
		list, err := s.app.Paygate().Unresolved(ctx, 0, 1000)
		require.NoError(t, err)
		for _, a := range list {
			if a.PaymentID == paymentID && a.State != string(saga.NeedsAttention) {
				return false
			}
		}
		pending, err := s.app.Paygate().Outbox().Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryPending, Limit: 1000})
		require.NoError(t, err)
		for _, d := range pending {
			if d.Key == paymentID {
				return false
			}
		}
		return true
	})
}

// attention returns the operators' queue entries of a payment.
func (s *server) attention(t *testing.T, paymentID string) []paygate.Attention {
	t.Helper()
	list, err := s.app.Paygate().Unresolved(context.Background(), 0, 1000)
	require.NoError(t, err)
	var out []paygate.Attention
	for _, a := range list {
		if a.PaymentID == paymentID {
			out = append(out, a)
		}
	}
	return out
}

// parallel runs fn n times at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// armCancel makes the sandbox PG's next cancel (full or partial) of the
// buyer's order answer with fault; calls of other orders and lookups leave
// it alone.
func (s *server) armCancel(t *testing.T, b buyer, fault pgtest.Fault) {
	t.Helper()
	require.NoError(t, s.app.Sandbox(b.PG).FailNext(pgtest.OpCancel, b.OrderID, fault))
}
