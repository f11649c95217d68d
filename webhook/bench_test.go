package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// BenchmarkIntake measures webhook intake — the signature verified, the
// notification deduplicated by its unique row, the effect applied in the
// same transaction — with 32 clients at once posting new notifications
// (each about one of 256 payments, so clients seldom wait for the same
// row), on each dialect. It reports notifications/s; the handler is called
// in process, without a socket.
func BenchmarkIntake(b *testing.B) {
	for _, d := range []store.Dialect{store.MySQL, store.SQLite} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			if d == store.MySQL {
				db.SQL().SetMaxOpenConns(store.DefaultMySQLPool)
				db.SQL().SetMaxIdleConns(store.DefaultMySQLPool)
			}
			const orders = 256
			initial := map[string]pg.Status{}
			for i := range orders {
				initial[fmt.Sprintf("o-%d", i)] = pg.StatusApproving
			}
			createPaymentTables(b, db, initial)
			e := newEnv(b, db, monotonicEffect(db), nil)
			var seq atomic.Int64
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			start := time.Now()
			b.RunParallel(func(loop *testing.PB) {
				for loop.Next() {
					n := seq.Add(1)
					body, err := json.Marshal(notification{
						ID: fmt.Sprintf("n-%d", n), PaymentKey: "pk_1", OrderID: fmt.Sprintf("o-%d", n%orders),
						Status: string(pg.StatusApproved), Amount: 15000, Secret: "ps_secret_1",
					})
					if err != nil {
						b.Error(err)
						return
					}
					req := httptest.NewRequest(http.MethodPost, "/webhooks/testpg", bytes.NewReader(body))
					req.SetPathValue("pg", "testpg")
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Test-Signature", sign("ps_secret_1", body))
					rec := httptest.NewRecorder()
					e.intake.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notifications/s")
		})
	}
}
