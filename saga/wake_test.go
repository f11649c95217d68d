package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A step waiting out a long backoff runs at once when Wake says its news
// arrived; Wake leaves finished and unknown instances alone.
func TestWake_WaitingInstanceRunsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		var ready atomic.Bool
		var calls atomic.Int64
		def := &saga.Definition{Name: "wake", Steps: []saga.Step{{
			Name: "wait",
			Action: func(context.Context, saga.Attempt) (saga.Result, error) {
				calls.Add(1)
				if !ready.Load() {
					return saga.Result{}, errors.New("not yet")
				}
				return saga.Result{}, nil
			},
			Retry: saga.Policy{MaxAttempts: saga.Unlimited, InitialBackoff: time.Hour, MaxBackoff: time.Hour},
		}}}
		r := saga.NewRunner(newStore(db), testConfig())
		require.NoError(t, r.Register(def))
		in := start(t, db, r, def, "k1")
		runFor(t, r)
		waitCount(t, "the first attempt", 1, func() int { return int(calls.Load()) })

		ready.Store(true)
		require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			return r.Wake(ctx, tx, def.Name, "k1")
		}))
		waitState(t, r, in.ID, saga.Completed)
		assert.Equal(t, int64(2), calls.Load(), "woken once, run once more")

		// A terminal instance and an unknown key are left alone.
		require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			if err := r.Wake(ctx, tx, def.Name, "k1"); err != nil {
				return err
			}
			return r.Wake(ctx, tx, def.Name, "no-such-key")
		}))
		done, err := r.Get(context.Background(), in.ID)
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, done.State)
		assert.Equal(t, int64(2), calls.Load())
	})
}

// heldStep is a step whose first attempt waits, once entered is closed,
// until release is closed and then fails transiently; its retry would wait
// an hour. Later attempts succeed.
type heldStep struct {
	entered, release chan struct{}
	// returned, when a test's runner closes it from Hooks.OnStep, says
	// the first attempt returned: its outcome is written next.
	returned chan struct{}
	calls    atomic.Int64
}

func newHeldStep() *heldStep {
	return &heldStep{entered: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{})}
}

func (h *heldStep) definition(name string) *saga.Definition {
	return &saga.Definition{Name: name, Steps: []saga.Step{{
		Name: "look_up",
		Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			if h.calls.Add(1) == 1 {
				close(h.entered)
				<-h.release
				return saga.Result{}, errors.New("outcome unknown")
			}
			return saga.Result{}, nil
		},
		Retry: saga.Policy{MaxAttempts: saga.Unlimited, InitialBackoff: time.Hour, MaxBackoff: time.Hour},
	}}}
}

// A wake that lands while a runner holds the instance — its step attempt in
// flight, the news arriving before the attempt's outcome is written — is
// not lost: the attempt's retry, which would wait an hour, is due at once
// instead. Each case fixes one order of the wake's transaction and the
// runner's write of the outcome.
func TestWake_DuringAnAttempt_NextAttemptRunsAtOnce(t *testing.T) {
	wake := func(ctx context.Context, tx *sql.Tx, r *saga.Runner) error { return r.Wake(ctx, tx, "held", "k1") }
	cases := []struct {
		name string
		// interleave wakes the instance, whose attempt waits in its
		// action, and releases the action, in some order.
		interleave func(t *testing.T, db *store.DB, r *saga.Runner, h *heldStep, id string)
		mysqlOnly  bool
	}{
		{
			name: "wake commits before the outcome is written",
			interleave: func(t *testing.T, db *store.DB, r *saga.Runner, h *heldStep, id string) {
				require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return wake(ctx, tx, r) }))
				close(h.release)
			},
		},
		{
			name: "wake commits after the outcome is written",
			interleave: func(t *testing.T, db *store.DB, r *saga.Runner, h *heldStep, id string) {
				close(h.release)
				waitRetryScheduled(t, r, id)
				require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return wake(ctx, tx, r) }))
			},
		},
		{
			// The wake's transaction holds the instance's row while the
			// runner's write waits for it, and commits afterwards. SQLite
			// has one writer: its transactions never interleave so.
			name:      "wake's transaction holds the row while the outcome write waits",
			mysqlOnly: true,
			interleave: func(t *testing.T, db *store.DB, r *saga.Runner, h *heldStep, id string) {
				ctx := context.Background()
				tx, err := db.SQL().BeginTx(ctx, nil)
				require.NoError(t, err)
				defer tx.Rollback()
				require.NoError(t, wake(ctx, tx, r))
				close(h.release)
				<-h.returned
				waitOutcomeWriteBlocked(t, db)
				require.NoError(t, tx.Commit())
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				if tc.mysqlOnly && db.Dialect() != store.MySQL {
					t.Skip("MySQL only: SQLite transactions do not interleave")
				}
				t.Parallel()
				h := newHeldStep()
				def := h.definition("held")
				// Each case fixes one interleaving of two writes to the
				// instance's row. A heartbeat is a third writer, and a lease
				// that lapses on a stalled machine lets the runner claim
				// the instance again: either makes another interleaving
				// than the one under test. An hour's lease has neither.
				cfg := testConfig()
				cfg.Lease = time.Hour
				cfg.Hooks.OnStep = func(e saga.StepEvent) {
					if e.Attempt == 1 {
						close(h.returned)
					}
				}
				r := saga.NewRunner(newStore(db), cfg)
				require.NoError(t, r.Register(def))
				in := start(t, db, r, def, "k1")
				runFor(t, r)
				<-h.entered
				tc.interleave(t, db, r, h, in.ID)
				waitState(t, r, in.ID, saga.Completed)
				assert.Equal(t, int64(2), h.calls.Load(), "the failed attempt and the one the wake brought forward")
			})
		})
	}
}

// waitRetryScheduled waits until the runner wrote the failed attempt's
// outcome: the instance is no longer leased and waits for its retry.
func waitRetryScheduled(t *testing.T, r *saga.Runner, id string) {
	t.Helper()
	waitCount(t, "retry scheduled", 1, func() int {
		in, err := r.Get(context.Background(), id)
		require.NoError(t, err)
		if in.LeaseToken == "" && in.RunAt.After(time.Now().Add(30*time.Minute)) {
			return 1
		}
		return 0
	})
}

// waitOutcomeWriteBlocked waits until a transaction of this database waits
// for a row lock in the runner's write of an instance (the statement that
// also writes resume_state), which follows the attempt's return at once.
// The write not seen waiting within 30s is logged with what the database's
// sessions are doing, and the test goes on: its assertions hold whatever
// the order of the two writes, and the log says which order was tested.
func waitOutcomeWriteBlocked(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		require.NoError(t, db.SQL().QueryRow(`SELECT COUNT(*)
FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()
  AND p.INFO LIKE '%UPDATE saga_instances%' AND p.INFO LIKE '%resume_state%'`).Scan(&n))
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := db.SQL().Query(`SELECT p.ID, COALESCE(p.COMMAND, ''), COALESCE(p.STATE, ''), COALESCE(p.INFO, ''), COALESCE(t.trx_state, '')
FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t ON p.ID = t.trx_mysql_thread_id
WHERE p.DB = DATABASE()`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id int64
		var command, state, info, trx string
		require.NoError(t, rows.Scan(&id, &command, &state, &info, &trx))
		t.Logf("session %d: %s %q trx=%q: %.200s", id, command, state, trx, info)
	}
	t.Logf("the outcome write was not seen waiting for the row within 30s; the wake commits now")
}
