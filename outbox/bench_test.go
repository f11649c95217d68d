package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
)

// BenchmarkOutbox_MariaDB measures events delivered per second to one
// DB-side subscriber that writes one row per event in the delivery's
// transaction. Events are emitted (100 per transaction) before the timer.
//
//	go test -run '^$' -bench Outbox_MariaDB -benchtime 5000x ./outbox/
func BenchmarkOutbox_MariaDB(b *testing.B) {
	_, db := openShared(b, store.MySQL)
	o := outbox.New(newStore(db), outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond, Logger: quietLogger()}})
	require.NoError(b, o.Subscribe(outbox.Subscriber{Name: "ledger", Handle: ledger(b, db, "t_ledger")}))
	for lo := 0; lo < b.N; lo += 100 {
		evs := make([]outbox.Event, 0, 100)
		for i := lo; i < min(lo+100, b.N); i++ {
			evs = append(evs, outbox.Event{Type: "ORDER_CREATED", Key: fmt.Sprintf("pay_%d", i), Payload: []byte(`{"amount":1000}`)})
		}
		emit(b, db, o, evs...)
	}
	b.ResetTimer()
	began := time.Now()
	runFor(b, o)
	waitCount(b, "delivered", b.N, func() int { return rowCount(b, db, "t_ledger") })
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
