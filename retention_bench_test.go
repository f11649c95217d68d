package paygate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// pruneBenchRows is how many old rows BenchmarkPruneDuringFlow prunes
// (PAYGATE_BENCH_PRUNE_ROWS, default 1,000,000): a fifth each of finished
// sagas, their steps, done deliveries, their events and webhook log rows.
func pruneBenchRows(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("PAYGATE_BENCH_PRUNE_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 5 || n%5 != 0 {
			b.Fatalf("PAYGATE_BENCH_PRUNE_ROWS=%q: want a multiple of 5", v)
		}
	}
	return n
}

// pruneWindow is how long each half of the alternation lasts.
const pruneWindow = 15 * time.Second

// BenchmarkPruneDuringFlow measures what pruning costs the payment flow on
// MariaDB: a million old rows (PAYGATE_BENCH_PRUNE_ROWS) are pruned with the default retention
// settings (batches of 500, 100ms apart) while BenchmarkFlow's payments run
// without pause, 2×GOMAXPROCS buyers at once. Windows of 15s with the prune
// running alternate with windows without it until the prune is done, so
// both halves see the same machine (other work on it, the buffer pool, the
// tables' growth); the prune goes on where it stopped in each window. It
// reports
//
//	flows/s-idle, flows/s-pruning   approvals completed per second in each half
//	slowdown-%                      how much fewer approvals per second while pruning
//	approve-p50-ms-idle/-pruning    Approve's median duration in each half
//	pruned-rows, prune-rows/s       rows the prune deleted, and per second of pruning
//
// Each operation is the whole experiment, seeding excluded; run it once:
//
//	go test -run '^$' -bench BenchmarkPruneDuringFlow -benchtime 1x -timeout 60m .
func BenchmarkPruneDuringFlow(b *testing.B) {
	for range b.N {
		b.StopTimer()
		rows := pruneBenchRows(b)
		db := storetest.Open(b, store.MySQL)
		seedOldRows(b, db, rows)
		b.StartTimer()
		pruneDuringFlow(b, db, int64(rows))
	}
}

func pruneDuringFlow(b *testing.B, db *store.DB, rows int64) {
	sb := inicistest.NewServer(inicistest.Config{})
	defer sb.Close()
	gcfg := sb.GatewayConfig()
	gcfg.HTTPClient = &http.Client{Transport: timedTransport{base: http.DefaultTransport}}
	gcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := inicis.New(gcfg)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := pg.NewRegistry(gw)
	if err != nil {
		b.Fatal(err)
	}
	orders := newTimedShop()
	p, err := paygate.New(paygate.Config{
		DB: db, Gateways: reg, Orders: orders, Fees: testFees,
		Runner:    saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond}},
		Outbox:    outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}},
		Retention: paygate.RetentionConfig{Disabled: true}, // pruned by hand, in windows
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			b.Error(err)
		}
	}()

	type done struct {
		at   time.Time
		took time.Duration
	}
	var (
		mu    sync.Mutex
		flows []done
		seq   atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				took, _, err := benchPay(ctx, p, sb, fmt.Sprintf("prune-bench-%d-%d", start.UnixNano()%1e9, seq.Add(1)))
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				flows = append(flows, done{at: time.Now(), took: took})
				mu.Unlock()
			}
		}()
	}

	type window struct {
		from, to time.Time
		pruning  bool
	}
	var windows []window
	var pruned int64
	var pruneTime time.Duration
	time.Sleep(2 * time.Second) // the flow warms up
	for finished := false; !finished && !b.Failed(); {
		w := window{from: time.Now()}
		time.Sleep(pruneWindow)
		w.to = time.Now()
		windows = append(windows, w)

		w = window{from: time.Now(), pruning: true}
		wctx, wcancel := context.WithTimeout(ctx, pruneWindow)
		rep, err := p.Prune(wctx)
		ended := wctx.Err() != nil
		wcancel()
		w.to = time.Now()
		windows = append(windows, w)
		pruned += rep.Total()
		pruneTime += w.to.Sub(w.from)
		switch {
		case err == nil:
			finished = true
		case ended && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil):
			// The window ended; the next one goes on from there.
		default:
			b.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	b.StopTimer()
	if b.Failed() {
		return
	}
	// Every flow finishes: its order and its sale.
	want := int(seq.Load())
	mu.Lock()
	completed := len(flows)
	mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for orders.count() < completed || countSales(b, db) < completed {
		if time.Now().After(deadline) {
			b.Fatalf("after 2m: %d of %d orders created, %d sales recorded", orders.count(), completed, countSales(b, db))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pruned != rows {
		b.Fatalf("pruned %d rows, want %d", pruned, rows)
	}

	var n [2]int
	var secs [2]float64
	var took [2][]time.Duration
	for _, w := range windows {
		i := 0
		if w.pruning {
			i = 1
		}
		secs[i] += w.to.Sub(w.from).Seconds()
		for _, f := range flows {
			if !f.at.Before(w.from) && f.at.Before(w.to) {
				n[i]++
				took[i] = append(took[i], f.took)
			}
		}
	}
	idle, pruning := float64(n[0])/secs[0], float64(n[1])/secs[1]
	b.ReportMetric(idle, "flows/s-idle")
	b.ReportMetric(pruning, "flows/s-pruning")
	b.ReportMetric(100*(idle-pruning)/idle, "slowdown-%")
	b.ReportMetric(ms(percentile(took[0], 50)), "approve-p50-ms-idle")
	b.ReportMetric(ms(percentile(took[1], 50)), "approve-p50-ms-pruning")
	b.ReportMetric(float64(pruned), "pruned-rows")
	b.ReportMetric(float64(pruned)/pruneTime.Seconds(), "prune-rows/s")
	b.Logf("%d flows started, %d completed; %d windows; pruning took %s in all", want, completed, len(windows), pruneTime.Round(time.Second))
}

// seedOldRows writes rows old enough to prune: rows/5 each of finished
// sagas, their steps, done deliveries, their events and webhook log rows,
// 100 days old.
func seedOldRows(b *testing.B, db *store.DB, rows int) {
	b.Helper()
	per := rows / 5
	at := time.Now().UTC().Add(-100 * 24 * time.Hour).Truncate(time.Microsecond)
	const chunk = 1000
	type table struct {
		head, row string
		args      func(i int) []any
	}
	tables := []table{
		{"INSERT INTO saga_instances (id, definition, business_key, state, step_index, version, created_at, updated_at) VALUES ",
			"(?, 'payment', ?, 'COMPLETED', 2, 4, ?, ?)", func(i int) []any {
				id := fmt.Sprintf("old-saga-%07d", i)
				return []any{id, "old-pay-" + id, at, at}
			}},
		{"INSERT INTO saga_steps (saga_id, step, op, status, attempts, updated_at) VALUES ",
			"(?, 'approve', 'action', 'DONE', 1, ?)", func(i int) []any {
				return []any{fmt.Sprintf("old-saga-%07d", i), at}
			}},
		{"INSERT INTO saga_events (id, type, event_key, payload, occurred_at, created_at) VALUES ",
			"(?, 'ORDER_CREATED', ?, ?, ?, ?)", func(i int) []any {
				id := fmt.Sprintf("old-evt-%07d", i)
				return []any{id, "old-pay-" + id, []byte(`{"paymentId":"old"}`), at, at}
			}},
		{"INSERT INTO saga_deliveries (event_id, subscriber, event_key, status, attempts, created_at, updated_at) VALUES ",
			"(?, 'settlement', ?, 'DONE', 1, ?, ?)", func(i int) []any {
				id := fmt.Sprintf("old-evt-%07d", i)
				return []any{id, "old-pay-" + id, at, at}
			}},
		{"INSERT INTO webhook_deliveries (id, pg, dedup_key, event_type, event, headers, body, body_sha256, received_at) VALUES ",
			"(?, 'inicis', ?, 'PAYMENT_STATUS_CHANGED', '{}', '{}', ?, '', ?)", func(i int) []any {
				id := fmt.Sprintf("old-whk-%07d", i)
				return []any{id, id, []byte(`{"status":"DONE"}`), at}
			}},
	}
	jobs := make(chan func() error)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if err := job(); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, t := range tables {
		for from := 0; from < per; from += chunk {
			jobs <- func() error {
				var q strings.Builder
				q.WriteString(t.head)
				var args []any
				for i := from; i < min(per, from+chunk); i++ {
					if i > from {
						q.WriteString(", ")
					}
					q.WriteString(t.row)
					args = append(args, t.args(i)...)
				}
				_, err := db.SQL().Exec(q.String(), args...)
				return err
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	for _, t := range []string{"saga_instances", "saga_steps", "saga_events", "saga_deliveries", "webhook_deliveries"} {
		if _, err := db.SQL().Exec("ANALYZE TABLE " + t); err != nil {
			b.Fatal(err)
		}
	}
}
