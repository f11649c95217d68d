package saga_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// BenchmarkSagas_MariaDB measures completed 3-step sagas per second, each
// step writing one row in its commit and calling nothing external, with 1
// and 4 runner instances (each its own connection pool, as separate
// processes). The instances are started before the timer; the timer runs
// until the last one completed. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench Sagas_MariaDB -benchtime 2000x ./saga/
func BenchmarkSagas_MariaDB(b *testing.B) {
	for _, runners := range []int{1, 4} {
		b.Run(fmt.Sprintf("runners=%d", runners), func(b *testing.B) {
			dsn, db := openShared(b, store.MySQL)
			effects(b, db)
			def := &saga.Definition{Name: "bench", Steps: []saga.Step{benchStep("a"), benchStep("b"), benchStep("c")}}
			var rs []*saga.Runner
			for range runners {
				cfg := testConfig()
				cfg.Concurrency = 8
				r := saga.NewRunner(newStore(openDSN(b, dsn)), cfg)
				require.NoError(b, r.Register(def))
				rs = append(rs, r)
			}
			startMany(b, db, rs[0], def, b.N)
			b.ResetTimer()
			began := time.Now()
			for _, r := range rs {
				runFor(b, r)
			}
			waitCount(b, "completed", b.N, func() int {
				var n int
				require.NoError(b, db.SQL().QueryRow(`SELECT COUNT(*) FROM saga_instances WHERE state = 'COMPLETED'`).Scan(&n))
				return n
			})
			elapsed := time.Since(began)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sagas/s")
			require.Equal(b, 3*b.N, effectCount(b, db, ""))
		})
	}
}

func benchStep(name string) saga.Step {
	return saga.Step{Name: name, Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
		return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
	}}
}
