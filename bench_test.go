package paygate_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
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

// pgClock is carried in an Approve's context; the PG's HTTP transport adds
// the time every call of that approval spent at the PG.
type pgClock struct{ spent atomic.Int64 }

type pgClockKey struct{}

// timedTransport measures each PG call from the request leaving to the
// response body being read, and charges it to the approval whose context
// the request carries.
type timedTransport struct{ base http.RoundTripper }

func (t timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	clock, _ := req.Context().Value(pgClockKey{}).(*pgClock)
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if clock == nil || err != nil {
		if clock != nil {
			clock.spent.Add(int64(time.Since(start)))
		}
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	clock.spent.Add(int64(time.Since(start)))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, rerr
}

// BenchmarkFlow runs the whole payment flow on MariaDB with the Inicis
// sandbox in process (over loopback HTTP): Prepare, the buyer's payment,
// Approve, then — in the background runners — the order created and the
// settlement entry recorded. The clock stops when every flow's order and
// ledger entry exist. It reports
//
//	flows/s               whole flows per second, the drain included
//	overhead-p50-ms/-p99  Approve's duration minus the time its PG calls took:
//	                      what paygate itself adds to an approval
//	approve-p50-ms        Approve's duration, for scale
//	pg-p50-ms             the time Approve's PG calls took
//
// Run it with a fixed count, since the runners finish the flows after
// the loop:
//
//	go test -run '^$' -bench BenchmarkFlow -benchtime 200x .
//
// BenchmarkFlow records its metrics and spans through the global providers
// (no-ops); BenchmarkFlowTelemetry installs the SDK: every metric
// aggregated (a reader that a scrape would collect from) and every span
// sampled and batched to an exporter that drops it.
func BenchmarkFlow(b *testing.B) { benchFlow(b, nil, nil) }

func BenchmarkFlowTelemetry(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	benchFlow(b, mp, tp)
}

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

func benchFlow(b *testing.B, mp metric.MeterProvider, tp trace.TracerProvider) {
	db := storetest.Open(b, store.MySQL)
	sb := inicistest.NewServer(inicistest.Config{})
	b.Cleanup(sb.Close)
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
	orders := newShop()
	p, err := paygate.New(paygate.Config{
		DB: db, Gateways: reg, Orders: orders, Fees: testFees,
		Runner:        saga.RunnerConfig{Loop: saga.Loop{PollInterval: 20 * time.Millisecond}},
		Outbox:        outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond}},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		MeterProvider: mp, TracerProvider: tp,
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
		seq      atomic.Int64
		mu       sync.Mutex
		overhead []time.Duration
		approve  []time.Duration
		atPG     []time.Duration
	)
	b.SetParallelism(2) // 2×GOMAXPROCS buyers at once
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(loop *testing.PB) {
		for loop.Next() {
			orderID := fmt.Sprintf("bench-%d-%d", start.UnixNano()%1e9, seq.Add(1))
			amount := pg.Won(15000)
			if _, err := p.Prepare(ctx, paygate.PrepareRequest{
				OrderID: orderID, OrderName: "bench", Amount: amount, PG: inicis.Name,
				SuccessURL: "https://shop.example/pay/success", CancelURL: "https://shop.example/pay/cancel", FailURL: "https://shop.example/pay/fail",
			}); err != nil {
				b.Error(err)
				return
			}
			paid, err := sb.Pay(ctx, pgtest.PayRequest{OrderID: orderID, Amount: amount})
			if err != nil {
				b.Error(err)
				return
			}
			clock := &pgClock{}
			t0 := time.Now()
			res, err := p.Approve(context.WithValue(ctx, pgClockKey{}, clock), paygate.ApproveRequest{
				PG: inicis.Name, OrderID: orderID, Amount: amount, Redirect: paid.Redirect,
			})
			took := time.Since(t0)
			if err != nil || res.Status != pg.StatusApproved {
				b.Errorf("approve %s: %v %+v", orderID, err, res)
				return
			}
			mu.Lock()
			approve = append(approve, took)
			overhead = append(overhead, took-time.Duration(clock.spent.Load()))
			atPG = append(atPG, time.Duration(clock.spent.Load()))
			mu.Unlock()
		}
	})
	if b.Failed() {
		return
	}
	// The flows are done when every order exists and has its sale.
	want := int(seq.Load())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		created, recorded := orders.count(), countSales(b, db)
		if created >= want && recorded >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 2m: %d of %d orders created, %d sales recorded", created, want, recorded)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	b.ReportMetric(float64(want)/elapsed.Seconds(), "flows/s")
	b.ReportMetric(ms(percentile(overhead, 50)), "overhead-p50-ms")
	b.ReportMetric(ms(percentile(overhead, 99)), "overhead-p99-ms")
	b.ReportMetric(ms(percentile(approve, 50)), "approve-p50-ms")
	b.ReportMetric(ms(percentile(atPG, 50)), "pg-p50-ms")
}

func (s *shop) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

func countSales(b *testing.B, db *store.DB) int {
	var n int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM settlement_entries WHERE entry_type = 'SALE'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
