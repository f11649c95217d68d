package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/paygate/paygate/store/storetest"
)

// BenchmarkInsertPaymentMappingEvent measures the transaction at the heart
// of Approve: insert the payment, claim the order, append the event, commit.
// "serial" is one caller; "parallel" runs GOMAXPROCS×4 callers at once, as
// concurrent approvals do. flows/s is transactions committed per second.
func BenchmarkInsertPaymentMappingEvent(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			var seq atomic.Int64
			flow := func(ctx context.Context) error {
				p := newPayment(fmt.Sprintf("bench-%d", seq.Add(1)))
				e := newEvent(p, "PAYMENT_UNKNOWN")
				return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
					if err := db.InsertPayment(ctx, tx, p); err != nil {
						return err
					}
					if err := db.ClaimOrder(ctx, tx, p.OrderID, p.ID); err != nil {
						return err
					}
					return db.AppendEvent(ctx, tx, e)
				})
			}
			b.Run("serial", func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					if err := flow(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if err := flow(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			})
		})
	}
}
