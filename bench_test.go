package paygate_test

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

var benchBuyersFlag = flag.Int("buyers", 0, "concurrent buyers of the flow benchmarks (default $PAYGATE_BENCH_BUYERS, else 32)")

// benchBuyers is the number of concurrent buyers: -buyers, else
// PAYGATE_BENCH_BUYERS, else 32.
func benchBuyers(b *testing.B) int {
	if *benchBuyersFlag > 0 {
		return *benchBuyersFlag
	}
	if v := os.Getenv("PAYGATE_BENCH_BUYERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("PAYGATE_BENCH_BUYERS=%q: want a positive number", v)
		}
		return n
	}
	return 32
}

// pgClock is carried in an Approve's context; the gateway (or, over HTTP,
// the PG's transport) adds the time every call of that approval spent at
// the PG.
type pgClock struct{ spent atomic.Int64 }

type pgClockKey struct{}

func chargePG(ctx context.Context, d time.Duration) {
	if clock, _ := ctx.Value(pgClockKey{}).(*pgClock); clock != nil {
		clock.spent.Add(int64(d))
	}
}

// timedTransport measures each PG call from the request leaving to the
// response body being read, and charges it to the approval whose context
// the request carries.
type timedTransport struct{ base http.RoundTripper }

func (t timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		chargePG(req.Context(), time.Since(start))
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	chargePG(req.Context(), time.Since(start))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, rerr
}

// benchPG is a pg.Gateway that answers in process, the way the Inicis
// sandbox's happy path does: the buyer pays (Pay returns the auth token
// the redirect carries), Approve captures a paid order for the amount it
// was paid with and answers APPROVED, and Lookup, by key or order id,
// agrees with what was approved and canceled. A token that was not issued,
// or an amount other than the paid one, is declined.
type benchPG struct {
	mu     sync.Mutex
	seq    atomic.Int64
	tokens map[string]pg.Money    // auth token → amount paid
	byKey  map[string]*pg.Payment // payment key → payment
	byOID  map[string]string      // order id → payment key
}

const benchPGName = "benchpg"

func newBenchPG() *benchPG {
	return &benchPG{tokens: map[string]pg.Money{}, byKey: map[string]*pg.Payment{}, byOID: map[string]string{}}
}

func (g *benchPG) Name() string { return benchPGName }

func (g *benchPG) Capabilities() pg.Capabilities {
	return pg.Capabilities{PartialCancel: true, LookupByOrderID: true, Methods: []pg.Method{pg.MethodCard}}
}

// Pay plays the buyer in the PG's window.
func (g *benchPG) Pay(orderID string, amount pg.Money) map[string]string {
	token := fmt.Sprintf("auth-%d", g.seq.Add(1))
	g.mu.Lock()
	g.tokens[token+"|"+orderID] = amount
	g.mu.Unlock()
	return map[string]string{"authToken": token}
}

func (g *benchPG) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	start := time.Now()
	defer func() { chargePG(ctx, time.Since(start)) }()
	g.mu.Lock()
	defer g.mu.Unlock()
	if key, ok := g.byOID[req.OrderID]; ok {
		// The same approval again (a resend): the PG's answer is the same.
		p := *g.byKey[key]
		return &p, nil
	}
	paid, ok := g.tokens[req.Redirect["authToken"]+"|"+req.OrderID]
	if !ok || !paid.Equal(req.Amount) {
		return nil, &pg.Error{PG: benchPGName, Op: "approve", Kind: pg.KindDeclined, Code: "R101", Message: "no such authentication"}
	}
	key := "BENCH" + req.PaymentID
	p := &pg.Payment{
		PG: benchPGName, PaymentKey: key, OrderID: req.OrderID, Status: pg.StatusApproved, PGStatus: "0000",
		Method: pg.MethodCard, Amount: req.Amount, Balance: req.Amount, ApprovedAt: time.Now().UTC(),
	}
	g.byKey[key], g.byOID[req.OrderID] = p, key
	out := *p
	return &out, nil
}

func (g *benchPG) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.byKey[req.PaymentKey]
	if !ok {
		return nil, &pg.Error{PG: benchPGName, Op: "cancel", Kind: pg.KindNotFound}
	}
	amount := req.Amount
	if !amount.IsSet() {
		amount = p.Balance
	}
	if req.Balance.IsSet() && !req.Balance.Equal(p.Balance) {
		return nil, &pg.Error{PG: benchPGName, Op: "cancel", Kind: pg.KindInvalid, Code: "BALANCE", Message: "balance guard"}
	}
	left, err := p.Balance.Sub(amount)
	if err != nil || left.Amount().IsNegative() {
		return nil, &pg.Error{PG: benchPGName, Op: "cancel", Kind: pg.KindInvalid, Code: "AMOUNT", Message: "more than the balance"}
	}
	p.Balance = left
	p.Status = pg.StatusPartialCanceled
	if left.IsZero() {
		p.Status = pg.StatusCanceled
	}
	p.Cancels = append(p.Cancels, pg.CancelRecord{TransactionKey: req.CancelID, Amount: amount, Reason: req.Reason})
	out := *p
	return &out, nil
}

func (g *benchPG) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := req.PaymentKey
	if key == "" {
		key = g.byOID[req.OrderID]
	}
	p, ok := g.byKey[key]
	if !ok {
		return nil, &pg.Error{PG: benchPGName, Op: "lookup", Kind: pg.KindNotFound}
	}
	out := *p
	return &out, nil
}

// dbCounters are MariaDB's global status counters the flow benchmark
// reports per flow.
var dbCounters = []string{"Questions", "Com_select", "Com_insert", "Com_update", "Com_delete", "Com_commit", "Innodb_data_fsyncs"}

func readCounters(b *testing.B, db *store.DB) map[string]int64 {
	rows, err := db.SQL().Query(`SHOW GLOBAL STATUS WHERE Variable_name IN ('` + strings.Join(dbCounters, "','") + `')`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			b.Fatal(err)
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// userCounters are MariaDB's per-user statistics (userstat=ON) of the user
// the benchmark connects as; nil when the server keeps none. Run as a user
// of its own, they count the benchmark's statements alone.
func userCounters(b *testing.B, db *store.DB) map[string]int64 {
	var sel, upd, other, commits int64
	err := db.SQL().QueryRow(`SELECT SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, COMMIT_TRANSACTIONS
FROM INFORMATION_SCHEMA.USER_STATISTICS WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)`).Scan(&sel, &upd, &other, &commits)
	if err != nil {
		return nil
	}
	return map[string]int64{"select": sel, "update": upd, "other": other, "commit": commits}
}

// writeCommits is InnoDB's count of committed transactions that wrote
// (trx_commits_insert_update): COMMIT statements and statements that commit
// on their own alike, each a durable write of the log. The counter is off
// by default; the benchmark turns it on. ok is false when it cannot.
func writeCommits(db *store.DB) (n int64, ok bool) {
	if _, err := db.SQL().Exec(`SET GLOBAL innodb_monitor_enable = 'trx_commits_insert_update'`); err != nil {
		return 0, false
	}
	err := db.SQL().QueryRow(`SELECT count FROM information_schema.INNODB_METRICS WHERE name = 'trx_commits_insert_update'`).Scan(&n)
	return n, err == nil
}

// flowBench is one run of the whole payment flow.
type flowBench struct {
	dialect store.Dialect
	// mp and tp, when set, are the OpenTelemetry providers paygate
	// records through (nil: the global ones).
	mp metric.MeterProvider
	tp trace.TracerProvider
	// http: the Inicis sandbox over loopback HTTP instead of benchPG.
	http bool
}

// BenchmarkFlow runs the whole payment flow on MariaDB with a PG that
// answers in process (benchPG): Prepare, the buyer's payment, Approve,
// then — in the background runners — the order created and the settlement
// entry recorded. b.N flows are shared by the buyers (-buyers, else
// PAYGATE_BENCH_BUYERS, else 32) running at once; the clock stops when
// every flow's order and ledger entry exist. It reports
//
//	flows/s               whole flows per second, the drain included
//	overhead-p50-ms/-p99  Approve's duration minus the time its PG calls took:
//	                      what paygate itself adds to an approval
//	approve-p50-ms        Approve's duration, for scale
//	pg-p50-ms             the time Approve's PG calls took
//	order-p99-ms          from Approve's return to the order created
//	ledger-p99-ms         from Approve's return to the ledger entry committed
//	stmts/flow ...        MariaDB's global status counters over the run
//	                      (Questions — every statement, BEGIN and COMMIT
//	                      included —, Com_select, Com_insert, Com_update,
//	                      Com_delete, Com_commit) and InnoDB's fsyncs
//	                      (Innodb_data_fsyncs, the log's included: commits
//	                      that wait together share one), divided by the
//	                      flows.
//	write-commits/flow    committed transactions that wrote, COMMIT
//	                      statements and statements committing on their own
//	                      alike (InnoDB's trx_commits_insert_update, which
//	                      the benchmark turns on), divided by the flows.
//	                      They are the whole server's: run the benchmark
//	                      when nothing else uses the server.
//
// PAYGATE_BENCH_RUNNERS and PAYGATE_BENCH_DISPATCHERS, when set, are the
// saga runner's and the outbox's Concurrency (default: the packages').
//
// Run it with a fixed count, since the runners finish the flows after
// the loop:
//
//	go test -run '^$' -bench 'BenchmarkFlow$' -benchtime 5000x .
func BenchmarkFlow(b *testing.B) { runFlowBench(b, flowBench{dialect: store.MySQL}) }

// BenchmarkFlowHTTP is BenchmarkFlow with the Inicis sandbox in process
// over loopback HTTP: the adapter's requests, signatures and parsing
// included.
func BenchmarkFlowHTTP(b *testing.B) { runFlowBench(b, flowBench{dialect: store.MySQL, http: true}) }

// BenchmarkFlowSQLite is BenchmarkFlow on SQLite (one writer at a time).
func BenchmarkFlowSQLite(b *testing.B) { runFlowBench(b, flowBench{dialect: store.SQLite}) }

// BenchmarkFlowTelemetry is BenchmarkFlow with the OpenTelemetry SDK
// installed: every metric aggregated (a reader that a scrape would collect
// from) and every span sampled and batched to an exporter that drops it.
// BenchmarkFlow records through the global providers (no-ops).
func BenchmarkFlowTelemetry(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	runFlowBench(b, flowBench{dialect: store.MySQL, mp: mp, tp: tp})
}

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

func runFlowBench(b *testing.B, fb flowBench) {
	db := storetest.Open(b, fb.dialect)
	buyers := benchBuyers(b)
	if fb.dialect == store.MySQL {
		// The pool a production deployment has (store.Open's), not the
		// small one tests share the server with.
		pool := benchEnvInt(b, "PAYGATE_BENCH_POOL", store.DefaultMySQLPool)
		db.SQL().SetMaxOpenConns(pool)
		db.SQL().SetMaxIdleConns(pool)
	}
	var (
		gw      pg.Gateway
		pay     func(ctx context.Context, orderID string, amount pg.Money) (map[string]string, error)
		pgName  string
		quiet   = slog.New(slog.NewTextHandler(io.Discard, nil))
		inproc  = newBenchPG()
		sandbox *inicistest.Server
	)
	if fb.http {
		sandbox = inicistest.NewServer(inicistest.Config{})
		b.Cleanup(sandbox.Close)
		gcfg := sandbox.GatewayConfig()
		gcfg.HTTPClient = &http.Client{Transport: timedTransport{base: &http.Transport{MaxIdleConnsPerHost: 256}}}
		gcfg.Logger = quiet
		igw, err := inicis.New(gcfg)
		if err != nil {
			b.Fatal(err)
		}
		gw, pgName = igw, inicis.Name
		pay = func(ctx context.Context, orderID string, amount pg.Money) (map[string]string, error) {
			paid, err := sandbox.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: amount})
			if err != nil {
				return nil, err
			}
			return paid.Redirect, nil
		}
	} else {
		gw, pgName = inproc, benchPGName
		pay = func(_ context.Context, orderID string, amount pg.Money) (map[string]string, error) {
			return inproc.Pay(orderID, amount), nil
		}

	}
	reg, err := pg.NewRegistry(gw)
	if err != nil {
		b.Fatal(err)
	}
	orders := newTimedShop()
	// The loops poll as a deployment's do unless told otherwise: the flow
	// needs no poll (its steps run inline or are handed to a worker slot,
	// the sale is written with the approval), so polling is overhead.
	poll := time.Duration(benchEnvInt(b, "PAYGATE_BENCH_POLL_MS", 0)) * time.Millisecond
	p, err := paygate.New(paygate.Config{
		DB: db, Gateways: reg, Orders: orders, Fees: testFees,
		PrepareGroup: benchEnvInt(b, "PAYGATE_BENCH_PREPARE_GROUP", 0),
		Runner: saga.RunnerConfig{Loop: saga.Loop{PollInterval: poll, Concurrency: benchEnvInt(b, "PAYGATE_BENCH_RUNNERS", 0)},
			WriteGroup: benchEnvInt(b, "PAYGATE_BENCH_WRITE_GROUP", 0)},
		Outbox:        outbox.Config{Loop: outbox.Loop{PollInterval: poll, Concurrency: benchEnvInt(b, "PAYGATE_BENCH_DISPATCHERS", 0), ClaimBatch: benchEnvInt(b, "PAYGATE_BENCH_OUTBOX_BATCH", 0)}},
		Logger:        quiet,
		MeterProvider: fb.mp, TracerProvider: fb.tp,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})

	var (
		mu       sync.Mutex
		overhead []time.Duration
		approve  []time.Duration
		atPG     []time.Duration
		approved = map[string]time.Time{} // order id → Approve returned
	)
	var before, userBefore map[string]int64
	var commitsBefore int64
	commitsKnown := false
	if fb.dialect == store.MySQL {
		userBefore = userCounters(b, db)
		commitsBefore, commitsKnown = writeCommits(db)
		before = readCounters(b, db)
	}
	b.ResetTimer()
	start := time.Now()
	runBuyers(b, buyers, func(n int64) bool {
		orderID := fmt.Sprintf("bench-%d-%d", start.UnixNano()%1e9, n)
		amount := pg.Won(15000)
		if _, err := p.Prepare(ctx, paygate.PrepareRequest{
			OrderID: orderID, OrderName: "bench", Amount: amount, PG: pgName,
			SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail",
		}); err != nil {
			b.Error(err)
			return false
		}
		redirect, err := pay(ctx, orderID, amount)
		if err != nil {
			b.Error(err)
			return false
		}
		clock := &pgClock{}
		t0 := time.Now()
		res, err := p.Approve(context.WithValue(ctx, pgClockKey{}, clock), paygate.ApproveRequest{
			PG: pgName, OrderID: orderID, Amount: amount, Redirect: redirect,
		})
		t1 := time.Now()
		took := t1.Sub(t0)
		if err != nil || res.Status != pg.StatusApproved {
			b.Errorf("approve %s: %v %+v", orderID, err, res)
			return false
		}
		mu.Lock()
		approve = append(approve, took)
		overhead = append(overhead, took-time.Duration(clock.spent.Load()))
		atPG = append(atPG, time.Duration(clock.spent.Load()))
		approved[orderID] = t1
		mu.Unlock()
		return true
	})
	if b.Failed() {
		return
	}
	// The flows are done when every order exists and has its sale. The
	// orders are counted in memory; the ledger is polled, and the polls'
	// own statements are taken off the counters.
	want := b.N
	polls := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if orders.count() >= want {
			polls++
			if countSales(b, db) >= want {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 2m: %d of %d orders created, %d sales recorded", orders.count(), want, countSales(b, db))
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var after, userAfter map[string]int64
	var commitsAfter int64
	if fb.dialect == store.MySQL {
		after = readCounters(b, db)
		commitsAfter, commitsKnown = writeCommits(db)
		commitsKnown = commitsKnown && commitsAfter >= commitsBefore
		userAfter = userCounters(b, db)
	}

	var toOrder, toLedger []time.Duration
	for id, at := range orders.times() {
		toOrder = append(toOrder, at.Sub(approved[id]))
	}
	for id, at := range ledgerTimes(b, db) {
		// A sale written with its approval was stamped before Approve
		// returned: it was in the ledger when the approval was, a lag
		// of zero.
		toLedger = append(toLedger, max(at.Sub(approved[id]), 0))
	}

	b.ReportMetric(float64(want)/elapsed.Seconds(), "flows/s")
	b.ReportMetric(ms(percentile(overhead, 50)), "overhead-p50-ms")
	b.ReportMetric(ms(percentile(overhead, 99)), "overhead-p99-ms")
	b.ReportMetric(ms(percentile(approve, 50)), "approve-p50-ms")
	b.ReportMetric(ms(percentile(atPG, 50)), "pg-p50-ms")
	b.ReportMetric(ms(percentile(toOrder, 99)), "order-p99-ms")
	b.ReportMetric(ms(percentile(toLedger, 50)), "ledger-p50-ms")
	b.ReportMetric(ms(percentile(toLedger, 99)), "ledger-p99-ms")
	b.ReportMetric(0, "ns/op") // whole flows are reported in flows/s
	if after != nil {
		per := func(name string, own int) float64 {
			return float64(after[name]-before[name]-int64(own)) / float64(want)
		}
		// Our own statements: one poll each, and the final SHOW STATUS.
		b.ReportMetric(per("Questions", polls+1), "stmts/flow")
		b.ReportMetric(per("Com_select", polls), "selects/flow")
		b.ReportMetric(per("Com_insert", 0), "inserts/flow")
		b.ReportMetric(per("Com_update", 0), "updates/flow")
		b.ReportMetric(per("Com_delete", 0), "deletes/flow")
		b.ReportMetric(per("Com_commit", 0), "commits/flow")
		if commitsKnown {
			// Writes that committed, with or without a COMMIT statement
			// (Prepare's insert commits on its own).
			b.ReportMetric(float64(commitsAfter-commitsBefore)/float64(want), "write-commits/flow")
		}
		// InnoDB's fsyncs (its log's and data files'): a commit waits
		// for the log's, and commits that wait together share one
		// (group commit).
		b.ReportMetric(per("Innodb_data_fsyncs", 0), "fsyncs/flow")
		b.Logf("%d flows, %d buyers; statement counters are MariaDB's global ones: anything else the server ran meanwhile is counted too", want, buyers)
	}
	if userBefore != nil && userAfter != nil {
		// The user's own statistics: SELECT_COMMANDS (the polls and the
		// SHOW STATUS taken off), UPDATE_COMMANDS (every INSERT, UPDATE and
		// DELETE), OTHER_COMMANDS (BEGIN, COMMIT, SHOW ...) and
		// COMMIT_TRANSACTIONS.
		per := func(name string, own int) float64 {
			return float64(userAfter[name]-userBefore[name]-int64(own)) / float64(want)
		}
		b.ReportMetric(per("select", polls+1), "user-selects/flow")
		b.ReportMetric(per("update", 0), "user-writes/flow")
		b.ReportMetric(per("other", 1), "user-other/flow")
		b.ReportMetric(per("commit", 0), "user-commits/flow")
	}
}

// benchPay runs one payment: Prepare, the buyer at the sandbox, Approve.
// It returns Approve's duration and the part of it spent at the PG.
func benchPay(ctx context.Context, p *paygate.Paygate, sb *inicistest.Server, orderID string) (took, atPG time.Duration, err error) {
	amount := pg.Won(15000)
	if _, err := p.Prepare(ctx, paygate.PrepareRequest{
		OrderID: orderID, OrderName: "bench", Amount: amount, PG: inicis.Name,
		SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail",
	}); err != nil {
		return 0, 0, err
	}
	paid, err := sb.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: amount})
	if err != nil {
		return 0, 0, err
	}
	clock := &pgClock{}
	t0 := time.Now()
	res, err := p.Approve(context.WithValue(ctx, pgClockKey{}, clock), paygate.ApproveRequest{
		PG: inicis.Name, OrderID: orderID, Amount: amount, Redirect: paid.Redirect,
	})
	took = time.Since(t0)
	if err != nil || res.Status != pg.StatusApproved {
		return 0, 0, fmt.Errorf("approve %s: %v %+v", orderID, err, res)
	}
	return took, time.Duration(clock.spent.Load()), nil
}

// timedShop is the host's order service, noting when each order was
// created.
type timedShop struct {
	mu  sync.Mutex
	ats map[string]time.Time
}

func newTimedShop() *timedShop { return &timedShop{ats: map[string]time.Time{}} }

func (s *timedShop) CreateOrder(_ context.Context, req paygate.OrderRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ats[req.OrderID]; !ok {
		s.ats[req.OrderID] = time.Now()
	}
	return nil
}

func (s *timedShop) RollbackOrder(_ context.Context, req paygate.OrderRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ats, req.OrderID)
	return nil
}

func (s *timedShop) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ats)
}

func (s *timedShop) times() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.ats))
	for k, v := range s.ats {
		out[k] = v
	}
	return out
}

func countSales(b *testing.B, db *store.DB) int {
	var n int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM settlement_entries WHERE entry_type = 'SALE'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// ledgerTimes returns when each order's sale entry was written.
func ledgerTimes(b *testing.B, db *store.DB) map[string]time.Time {
	rows, err := db.SQL().Query(`SELECT order_id, created_at FROM settlement_entries WHERE entry_type = 'SALE'`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at sql.NullTime
		if err := rows.Scan(&id, &at); err != nil {
			b.Fatal(err)
		}
		out[id] = at.Time
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)]
}

// runBuyers runs buyers goroutines that share b.N flows: each calls flow
// with the next flow's number, from 1 to b.N, until the flows run out or
// flow returns false. It returns when every buyer has stopped.
func runBuyers(b *testing.B, buyers int, flow func(n int64) bool) {
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range buyers {
		wg.Go(func() {
			for {
				n := seq.Add(1)
				if n > int64(b.N) || !flow(n) {
					return
				}
			}
		})
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchEnvInt is the number in environment variable name, or def when it
// is not set; anything but a number that is not negative fails b.
func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a number, 0 or more (0: the package's default)", name, v)
	}
	return n
}
