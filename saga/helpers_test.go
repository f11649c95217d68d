package saga_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// quietLogger keeps test output readable; set SAGA_TEST_LOG to see logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a runner configuration for tests: fast polling, a lease
// long enough for a loaded machine.
func testConfig() saga.RunnerConfig {
	return saga.RunnerConfig{Loop: saga.Loop{Lease: 10 * time.Second, PollInterval: 20 * time.Millisecond, Logger: quietLogger()}}
}

// effects creates the table test steps record their effects in: one row
// per unique key, written in the step's commit so it lands exactly once or
// the test sees a duplicate-key failure.
func effects(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE test_effects (k VARCHAR(190) NOT NULL PRIMARY KEY, saga_id VARCHAR(64) NOT NULL)`,
		`CREATE TABLE test_calls (k VARCHAR(190) NOT NULL PRIMARY KEY, n INT NOT NULL)`,
	} {
		_, err := db.SQL().ExecContext(ctx, q)
		require.NoError(t, err)
	}
}

// recordEffect inserts the effect row of a step half.
func recordEffect(ctx context.Context, tx *sql.Tx, a saga.Attempt) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO test_effects (k, saga_id) VALUES (?, ?)`, a.IdempotencyKey, a.SagaID)
	return err
}

// countCall counts an invocation of a step function in its own transaction,
// the way an external system would see the call.
func countCall(ctx context.Context, db *store.DB, key string) error {
	return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE test_calls SET n = n + 1 WHERE k = ?`, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO test_calls (k, n) VALUES (?, 1)`, key)
		return err
	})
}

func effectCount(t testing.TB, db *store.DB, where string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM test_effects `+where, args...).Scan(&n))
	return n
}

// dbStep is a step whose action writes one effect row in its commit.
func dbStep(name string) saga.Step {
	return saga.Step{
		Name: name,
		Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			return saga.Result{
				Output: []byte(name + "-out"),
				Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) },
			}, nil
		},
		Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
		},
		Retry:             saga.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		CompensationRetry: saga.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
}

// start creates one instance in its own transaction.
func start(t testing.TB, db *store.DB, r *saga.Runner, def *saga.Definition, key string, opts ...saga.StartOption) *saga.Instance {
	t.Helper()
	var in *saga.Instance
	require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		in, err = r.Start(ctx, tx, def, key, []byte(`{"key":"`+key+`"}`), opts...)
		return err
	}))
	return in
}

// runFor runs r in the background until the test ends or stop is called.
func runFor(t testing.TB, r interface{ Run(context.Context) error }) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// waitState polls until the instance reaches want.
func waitState(t testing.TB, r *saga.Runner, id string, want saga.State) *saga.Instance {
	t.Helper()
	var in *saga.Instance
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		in, err = r.Get(context.Background(), id)
		require.NoError(t, err)
		if in.State == want {
			return in
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("saga %s: state %s after 60s, want %s (reason %q)", id, in.State, want, in.Reason)
	return nil
}

// waitCount polls until count() returns want. It gives up only when the
// count has not moved for a minute: a loaded machine makes the work slow,
// not stuck, and only stuck work is a failure.
func waitCount(t testing.TB, what string, want int, count func() int) {
	t.Helper()
	got := count()
	deadline := time.Now().Add(time.Minute)
	for got != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if now := count(); now != got {
			got, deadline = now, time.Now().Add(time.Minute)
		}
	}
	require.Equal(t, want, got, what+" (no progress for a minute)")
}

func newStore(db *store.DB) *sagastore.Store { return sagastore.New(db) }

func key(i int) string { return fmt.Sprintf("order-%05d", i) }
