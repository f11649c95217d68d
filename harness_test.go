package paygate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// sandboxPG is one PG under test: its adapter and its sandbox, scripted
// through pgtest.Sandbox whatever the PG.
type sandboxPG struct {
	name    string
	gateway pg.Gateway
	sandbox pgtest.Sandbox
	// edge is the network in front of the PG: it can answer a call with
	// the PG's 429 before the PG sees it.
	edge *edge
	// clock is the sandbox's clock.
	clock *sandboxClock
}

// sandboxClock is a sandbox PG's clock: the real time, or a moment it is stopped
// at.
type sandboxClock struct{ stopped atomic.Pointer[time.Time] }

func (c *sandboxClock) Now() time.Time {
	if t := c.stopped.Load(); t != nil {
		return *t
	}
	return time.Now()
}

// stopAt makes the PG's time t until resume.
func (c *sandboxClock) stopAt(t time.Time) { c.stopped.Store(&t) }

func (c *sandboxClock) resume() { c.stopped.Store(nil) }

// edge is the HTTP transport between paygate and a sandbox PG. Armed, it
// answers the next cancel call with 429 Too Many Requests and a Retry-After
// too long for the client to wait out, as a PG's rate limiter does: the
// call is not processed and the adapter reports it Unavailable.
type edge struct {
	isCancel func(*http.Request) bool
	next     http.RoundTripper
	throttle atomic.Int64
}

func newEdge(isCancel func(*http.Request) bool) *edge {
	return &edge{isCancel: isCancel, next: http.DefaultTransport.(*http.Transport).Clone()}
}

// throttleCancels makes the next n cancel calls get 429.
func (e *edge) throttleCancels(n int) { e.throttle.Store(int64(n)) }

func (e *edge) RoundTrip(req *http.Request) (*http.Response, error) {
	if e.isCancel(req) && e.throttle.Add(-1) >= 0 {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Retry-After": {"3600"}, "Content-Type": {"text/plain"}},
			Body:    io.NopCloser(strings.NewReader("too many requests")),
			Request: req, ContentLength: int64(len("too many requests")),
		}, nil
	}
	return e.next.RoundTrip(req)
}

func (e *edge) client() *http.Client { return &http.Client{Transport: e} }

// sandboxPGs builds every PG under test; each flow test runs against each.
var sandboxPGs = []struct {
	name string
	make func(t *testing.T) sandboxPG
}{
	{"tosspay", newTossPay},
	{"inicis", newInicis},
	{"kakaopay", newKakaoPay},
}

func newTossPay(t *testing.T) sandboxPG {
	t.Helper()
	clock := &sandboxClock{}
	srv := tosspaytest.NewServer(tosspaytest.Config{HoldMax: 2 * time.Second, Now: clock.Now})
	t.Cleanup(srv.Close)
	edge := newEdge(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/cancel") })
	gw, err := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL, HTTPClient: edge.client(),
		Timeout: time.Second, MaxAttempts: 2, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return sandboxPG{name: gw.Name(), gateway: gw, sandbox: srv, edge: edge, clock: clock}
}

func newInicis(t *testing.T) sandboxPG {
	t.Helper()
	clock := &sandboxClock{}
	srv := inicistest.NewServer(inicistest.Config{Now: clock.Now})
	t.Cleanup(srv.Close)
	edge := newEdge(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "efund") })
	cfg := srv.GatewayConfig()
	cfg.HTTPClient = edge.client()
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	return sandboxPG{name: gw.Name(), gateway: gw, sandbox: srv, edge: edge, clock: clock}
}

func newKakaoPay(t *testing.T) sandboxPG {
	t.Helper()
	clock := &sandboxClock{}
	srv := kakaopaytest.NewServer(kakaopaytest.Config{Now: clock.Now})
	t.Cleanup(srv.Close)
	edge := newEdge(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/payment/cancel") })
	gw, err := kakaopay.New(kakaopay.Config{CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: srv.URL, HTTPClient: edge.client()})
	require.NoError(t, err)
	return sandboxPG{name: gw.Name(), gateway: gw, sandbox: srv, edge: edge, clock: clock}
}

// eachPG runs fn for every sandbox PG on every database, in parallel.
func eachPG(t *testing.T, fn func(t *testing.T, f *flow)) {
	eachPGTweaked(t, nil, fn)
}

// eachPGTweaked is eachPG with paygate's configuration changed by tweak.
func eachPGTweaked(t *testing.T, tweak func(*paygate.Config), fn func(t *testing.T, f *flow)) {
	for _, spg := range sandboxPGs {
		t.Run(spg.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				if tweak == nil {
					fn(t, newFlow(t, db, spg.make(t)))
					return
				}
				fn(t, newFlow(t, db, spg.make(t), tweak))
			})
		})
	}
}

// shop is a host order service for tests: it records every call and can be
// told to fail for an order, permanently or a number of times.
type shop struct {
	mu        sync.Mutex
	orders    map[string]string // order id → payment id
	rolled    map[string]int    // rollbacks that took effect
	creates   map[string]int
	permanent map[string]bool
	transient map[string]int
	// rollbackDown makes RollbackOrder fail for an order that many times
	// (the order service is down); rollbackCalls counts every call.
	rollbackDown  map[string]int
	rollbackCalls map[string]int
	// gates hold CreateOrder for an order until closed, so a test can act
	// between the approval and the order's outcome.
	gates map[string]chan struct{}
}

func newShop() *shop {
	return &shop{orders: map[string]string{}, rolled: map[string]int{}, creates: map[string]int{},
		permanent: map[string]bool{}, transient: map[string]int{}, gates: map[string]chan struct{}{},
		rollbackDown: map[string]int{}, rollbackCalls: map[string]int{}}
}

func (s *shop) CreateOrder(ctx context.Context, req paygate.OrderRequest) error {
	s.mu.Lock()
	gate := s.gates[req.OrderID]
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creates[req.OrderID]++
	if s.permanent[req.OrderID] {
		return paygate.Permanent(errors.New("out of stock"))
	}
	if s.transient[req.OrderID] > 0 {
		s.transient[req.OrderID]--
		return errors.New("inventory service unavailable")
	}
	if have, ok := s.orders[req.OrderID]; ok && have != req.PaymentID {
		return paygate.Permanent(fmt.Errorf("order paid by %s", have))
	}
	s.orders[req.OrderID] = req.PaymentID
	return nil
}

// hold makes CreateOrder for the order wait until the returned func runs.
func (s *shop) hold(orderID string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.gates[orderID] = ch
	s.mu.Unlock()
	return func() { close(ch) }
}

func (s *shop) RollbackOrder(_ context.Context, req paygate.OrderRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollbackCalls[req.OrderID]++
	if s.rollbackDown[req.OrderID] > 0 {
		s.rollbackDown[req.OrderID]--
		return errors.New("order service unavailable")
	}
	s.rolled[req.OrderID]++
	if s.orders[req.OrderID] == req.PaymentID {
		delete(s.orders, req.OrderID)
	}
	return nil
}

func (s *shop) state(orderID string) (paidBy string, creates, rollbacks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orders[orderID], s.creates[orderID], s.rolled[orderID]
}

// setRollbackDown makes the next n rollbacks of the order fail.
// setPermanent makes CreateOrder fail for good for the order; safe while
// the flow runs.
func (s *shop) setPermanent(orderID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permanent[orderID] = true
}

func (s *shop) setRollbackDown(orderID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollbackDown[orderID] = n
}

func (s *shop) rollbackAttempts(orderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rollbackCalls[orderID]
}

// flow is a running Paygate over one database and one sandbox PG.
type flow struct {
	t      *testing.T
	db     *store.DB
	p      *paygate.Paygate
	pg     sandboxPG
	shop   *shop
	alerts atomic.Int64
	// device is where checkout prepares and pays (PC when empty).
	device pg.Device
}

var testFees = settlement.RateFee{Rate: decimal.RequireFromString("0.032")}

func newFlow(t *testing.T, db *store.DB, spg sandboxPG, tweak ...func(*paygate.Config)) *flow {
	t.Helper()
	reg, err := pg.NewRegistry(spg.gateway)
	require.NoError(t, err)
	f := &flow{t: t, db: db, pg: spg, shop: newShop()}
	fast := saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	cfg := paygate.Config{
		DB: db, Gateways: reg, Orders: f.shop, Fees: testFees,
		SettleDelay:  300 * time.Millisecond,
		ResolveRetry: fast,
		OrderRetry:   saga.Policy{MaxAttempts: 4, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		RefundRetry:  saga.Policy{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, AlertAfter: 3},
		Runner:       saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond, Lease: 5 * time.Second}},
		Outbox:       outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}},
		OnAlert:      func(saga.Alert) { f.alerts.Add(1) },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, fn := range tweak {
		fn(&cfg)
	}
	f.p, err = paygate.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return f
}

// checkout prepares an order and plays the buyer, returning the approval
// the shop's return page would send.
func (f *flow) checkout(orderID string, amount int64, fault pgtest.Fault) paygate.ApproveRequest {
	f.t.Helper()
	ctx := context.Background()
	_, err := f.p.Prepare(ctx, paygate.PrepareRequest{OrderID: orderID, OrderName: "test order", Amount: pg.Won(amount), PG: f.pg.name,
		Device:     f.device,
		SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail"})
	require.NoError(f.t, err)
	res, err := f.pg.sandbox.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount), Fault: fault, Device: f.device})
	require.NoError(f.t, err)
	return paygate.ApproveRequest{PG: f.pg.name, OrderID: orderID, Amount: pg.Won(amount), PaymentKey: res.PaymentKey, Redirect: res.Redirect}
}

// failRefund scripts the PG's next cancel (full or partial) of the order
// to answer with fault.
func (f *flow) failRefund(orderID string, fault pgtest.Fault) {
	f.t.Helper()
	require.NoError(f.t, f.pg.sandbox.FailNext(pgtest.OpCancel, orderID, fault))
}

// refuseCancel makes the PG refuse the order's next cancel for good
// (lookups in between do not use it up).
func (f *flow) refuseCancel(orderID string) { f.failRefund(orderID, pgtest.FaultDecline) }

// eventually polls cond until it holds or a generous deadline passes.
func (f *flow) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting for %s", what)
}

func (f *flow) payment(id string) *paygate.PaymentView {
	f.t.Helper()
	v, err := f.p.Payment(context.Background(), id)
	require.NoError(f.t, err)
	return v
}

// ledgerEntry sums the PG's records of an order (an order may have had
// several attempts: a declined one, then an approved one).
func (f *flow) ledgerEntry(orderID string) (pgtest.LedgerEntry, bool) {
	var sum pgtest.LedgerEntry
	found := false
	for _, e := range f.pg.sandbox.Ledger() {
		if e.OrderID != orderID {
			continue
		}
		found = true
		sum.OrderID = orderID
		sum.Approvals += e.Approvals
		sum.Cancels += e.Cancels
		if e.Approvals > 0 {
			sum.PaymentKey, sum.Approved, sum.Canceled, sum.Status = e.PaymentKey, e.Approved, e.Canceled, e.Status
		}
	}
	return sum, found
}

func (f *flow) eventTypes(id string) []string {
	var out []string
	for _, e := range f.payment(id).Events {
		out = append(out, e.Type)
	}
	return out
}

// settled waits until nothing about the payment is in flight: its saga is
// terminal (or needs attention) and its settlement entries are recorded.
func (f *flow) settled(paymentID string) {
	f.t.Helper()
	f.eventually("payment "+paymentID+" to settle", func() bool {
		list, err := f.p.Unresolved(context.Background(), 0, 1000)
		require.NoError(f.t, err)
		for _, a := range list {
			if a.PaymentID == paymentID && a.State != string(saga.NeedsAttention) {
				return false
			}
		}
		pending, err := f.p.Outbox().Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending, Limit: 1000})
		require.NoError(f.t, err)
		for _, d := range pending {
			if d.Key == paymentID {
				return false
			}
		}
		return true
	})
}

// checkInvariants compares paygate's records of an order with the sandbox
// PG's ledger: DESIGN's invariants 1, 2, 3 (per payment), 6 and 7.
func (f *flow) checkInvariants(orderID string) {
	f.t.Helper()
	ctx := context.Background()
	entry, atPG := f.ledgerEntry(orderID)
	ps, err := f.db.PaymentsByOrder(ctx, orderID)
	require.NoError(f.t, err)
	paidBy, _, _ := f.shop.state(orderID)
	captured := 0
	for _, pay := range ps {
		if pay.Status.Captured() {
			captured++
		}
	}
	require.LessOrEqual(f.t, captured, 1, "invariant 1: at most one captured payment per order")
	if !atPG || entry.Approvals == 0 {
		require.Zero(f.t, captured, "nothing captured when the PG approved nothing")
		require.Empty(f.t, paidBy, "no order without an approval")
		return
	}
	require.Equal(f.t, 1, entry.Approvals, "invariant 1: the PG approved once")
	pgNet, err := entry.Approved.Sub(orZero(entry.Canceled))
	require.NoError(f.t, err, "invariant 6: refunds never exceed the capture")

	var ours *store.Payment
	for _, pay := range ps {
		if pay.ApprovedAmount.IsSet() && pay.ApprovedAmount.IsPositive() {
			ours = pay
		}
	}
	require.NotNil(f.t, ours, "invariant 2: the PG's approval is recorded")
	require.True(f.t, ours.ApprovedAmount.Equal(entry.Approved), "invariant 7: captured %s, PG says %s", ours.ApprovedAmount, entry.Approved)
	require.True(f.t, orZero(ours.CanceledAmount).Equal(orZero(entry.Canceled)), "refunds: ours %s, PG %s", ours.CanceledAmount, entry.Canceled)

	records, err := settlement.NewLedger(settlementstore.New(f.db)).ByPayment(ctx, ours.ID)
	require.NoError(f.t, err)
	net := decimal.Zero
	for _, r := range records {
		net = net.Add(r.Gross.Amount().Mul(decimal.NewFromInt(r.Sign())))
	}
	require.True(f.t, net.Equal(pgNet.Amount()), "invariant 3: ledger %s, PG %s", net, pgNet)

	if pgNet.IsPositive() {
		require.Equal(f.t, ours.ID, paidBy, "invariant 2: a kept payment has its order")
	} else {
		require.Empty(f.t, paidBy, "invariant 2: a refunded payment has no order")
	}
}

func orZero(m pg.Money) pg.Money {
	if m.IsSet() {
		return m
	}
	return pg.Won(0)
}
