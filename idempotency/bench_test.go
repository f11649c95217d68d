package idempotency_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

var benchBody = []byte(`{"pg":"tosspay","orderId":"o-bench","amount":15000,"paymentKey":"tgen_20260302"}`)

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"paymentId":"pay_1","status":"APPROVED","approvedAt":"2026-03-02T09:00:00+09:00"}`))
	})
}

func benchRequest(key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/payments/approve", bytes.NewReader(benchBody))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(idempotency.HeaderKey, key)
	}
	return req
}

// BenchmarkMiddleware measures what the middleware adds to a trivial handler
// on each dialect (MariaDB is the production case): "first" claims a new key
// and stores the response (two statements), "replay" answers a repeat from
// the store (a refused insert and a read) the first time and from memory
// after that, "replay-32" is replays by 32 clients at once, "none" is the
// handler alone.
func BenchmarkMiddleware(b *testing.B) {
	for _, d := range []store.Dialect{store.MySQL, store.SQLite} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			m, _ := newManager(b, db, nil)
			h := m.Require(benchHandler())

			b.Run("none", func(b *testing.B) {
				plain := benchHandler()
				for b.Loop() {
					plain.ServeHTTP(httptest.NewRecorder(), benchRequest(""))
				}
			})
			b.Run("first", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, benchRequest("bench-first-"+strconv.Itoa(i)))
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
			b.Run("replay", func(b *testing.B) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, benchRequest("bench-replay"))
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, benchRequest("bench-replay"))
					if rec.Header().Get(idempotency.HeaderReplayed) != "true" {
						b.Fatalf("not replayed: %d %s", rec.Code, rec.Body)
					}
				}
			})
			b.Run("replay-32", func(b *testing.B) {
				// 32 clients at once, each repeating its own key.
				for i := range 32 {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, benchRequest("bench-replay-32-"+strconv.Itoa(i)))
				}
				var next atomic.Int64
				b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					key := "bench-replay-32-" + strconv.Itoa(int(next.Add(1)-1)%32)
					for pb.Next() {
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, benchRequest(key))
						if rec.Header().Get(idempotency.HeaderReplayed) != "true" {
							b.Errorf("not replayed: %d %s", rec.Code, rec.Body)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "answers/s")
			})
		})
	}
}
