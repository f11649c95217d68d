package adminstore_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/adminstore"
	"github.com/paygate/paygate/store/storetest"
)

// EnvBenchPayments sets how many payments BenchmarkSearchPayments seeds
// (default 20,000; 1000000 for the figure in the README):
//
//	PAYGATE_BENCH_PAYMENTS=1000000 go test -run '^$' -bench SearchPayments -benchtime 200x ./store/adminstore/
const EnvBenchPayments = "PAYGATE_BENCH_PAYMENTS"

// BenchmarkSearchPayments seeds MariaDB with a year of payments and times
// the console's first page, a filtered page, and a page deep in the list
// reached by cursor, logging each query's EXPLAIN.
func BenchmarkSearchPayments(b *testing.B) {
	n := 20000
	if v := os.Getenv(EnvBenchPayments); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("%s must be a number ≥ 1000, not %q", EnvBenchPayments, v)
		}
	}
	db := storetest.Open(b, store.MySQL)
	seeded := time.Now()
	bulkSeed(b, db, n)
	analyze(b, db)
	b.Logf("seeded %d payments in %s", n, time.Since(seeded).Round(time.Millisecond))
	s := adminstore.New(db)
	ctx := context.Background()

	// A deep position: the payment 90% of the way back.
	deep, err := s.SearchPayments(ctx, admin.PaymentFilter{Limit: 1, To: seedStart.Add(seedSpan / 10)})
	if err != nil || len(deep) == 0 {
		b.Fatalf("deep position: %v", err)
	}
	month := seedStart.Add(seedSpan / 2)
	cases := []struct {
		name string
		f    admin.PaymentFilter
	}{
		{"first-page", admin.PaymentFilter{Limit: 50}},
		{"filtered-page", admin.PaymentFilter{Limit: 50, Status: "CANCELED", PG: "kakaopay", From: month, To: month.Add(30 * 24 * time.Hour)}},
		{"page-by-cursor-90pct-deep", admin.PaymentFilter{Limit: 50, After: &admin.Cursor{CreatedAt: deep[0].CreatedAt, ID: deep[0].ID}}},
		{"order-name-text", admin.PaymentFilter{Limit: 50, Text: "이어폰"}},
	}
	for _, c := range cases {
		plan, err := s.Explain(ctx, c.f)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s EXPLAIN:\n%s", c.name, strings.Join(plan, "\n"))
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				ps, err := s.SearchPayments(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(ps) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}
