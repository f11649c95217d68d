package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// external simulates a PG: calls land in their own transaction (the PG's
// database), keyed by the idempotency key; lookups read them.
type external struct {
	db    *store.DB
	calls atomic.Int64
}

func newExternal(t testing.TB, db *store.DB) *external {
	_, err := db.SQL().ExecContext(context.Background(),
		`CREATE TABLE test_external (k VARCHAR(190) NOT NULL PRIMARY KEY, n INT NOT NULL)`)
	require.NoError(t, err)
	return &external{db: db}
}

func (e *external) call(ctx context.Context, key string) error {
	e.calls.Add(1)
	return e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE test_external SET n = n + 1 WHERE k = ?`, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO test_external (k, n) VALUES (?, 1)`, key)
		return err
	})
}

// lookup returns how many times key was called at the external side.
func (e *external) lookup(ctx context.Context, key string) (int, error) {
	var n int
	err := e.db.SQL().QueryRowContext(ctx, `SELECT n FROM test_external WHERE k = ?`, key).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// approveStep calls the external system and looks it up when recovering,
// like the payment flow's approve.
func approveStep(ext *external) saga.Step {
	commit := func(a saga.Attempt) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }
	}
	return saga.Step{
		Name: "approve",
		Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			if err := ext.call(ctx, a.IdempotencyKey); err != nil {
				return saga.Result{}, err
			}
			return saga.Result{Output: []byte("approved"), Commit: commit(a)}, nil
		},
		Resolve: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			n, err := ext.lookup(ctx, a.IdempotencyKey)
			if err != nil {
				return saga.Result{}, err
			}
			if n == 0 {
				return saga.Result{}, saga.ErrNotDone
			}
			return saga.Result{Output: []byte("approved"), Commit: commit(a)}, nil
		},
		Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			if err := ext.call(ctx, a.IdempotencyKey); err != nil {
				return saga.Result{}, err
			}
			return saga.Result{Commit: commit(a)}, nil
		},
		Retry:             saga.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		CompensationRetry: saga.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
}

func TestRunInline_FirstStepInline_RestInBackground(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		ext := newExternal(t, db)
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "payment", Steps: []saga.Step{approveStep(ext), dbStep("create_order")}}
		require.NoError(t, r.Register(def))
		ctx := context.Background()

		in := start(t, db, r, def, "order-1", saga.Inline())
		s, ok := in.Step("approve", saga.OpAction)
		require.True(t, ok, "Start with Inline records the dispatch in the caller's transaction")
		assert.Equal(t, saga.StepDispatched, s.Status)

		after, err := r.RunInline(ctx, in, 1)
		require.NoError(t, err)
		s, _ = after.Step("approve", saga.OpAction)
		assert.Equal(t, saga.StepDone, s.Status)
		assert.Equal(t, "approved", string(s.Output))
		assert.Equal(t, saga.Running, after.State)
		assert.Empty(t, after.LeaseToken, "the instance is handed to the runners")

		_, err = r.RunInline(ctx, in, 1)
		assert.ErrorIs(t, err, saga.ErrInvalid, "an inline lease is used once")

		runFor(t, r)
		waitState(t, r, in.ID, saga.Completed)
		assert.EqualValues(t, 1, ext.calls.Load())
		assert.Equal(t, 2, effectCount(t, db, "WHERE saga_id = ?", in.ID))
	})
}

func TestRunInline_StartRolledBack_ErrLeaseLost(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		ext := newExternal(t, db)
		r := saga.NewRunner(newStore(db), testConfig())
		def := &saga.Definition{Name: "payment", Steps: []saga.Step{approveStep(ext)}}
		require.NoError(t, r.Register(def))
		var in *saga.Instance
		_ = db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			var err error
			in, err = r.Start(ctx, tx, def, "k", nil, saga.Inline())
			require.NoError(t, err)
			return errors.New("the amount did not match")
		})
		_, err := r.RunInline(context.Background(), in, 1)
		require.ErrorIs(t, err, saga.ErrLeaseLost)
		assert.Zero(t, effectCount(t, db, ""), "nothing commits for a saga that does not exist")
	})
}

// TestRecovery_CrashAfterDispatch_ResolvedByLookup: the process that started
// the saga died after committing the dispatch (F11). When the lease expires
// a runner resolves the step: it finds the external effect and does not call
// again, or finds none and calls once.
func TestRecovery_CrashAfterDispatch_ResolvedByLookup(t *testing.T) {
	tests := []struct {
		name              string
		calledBeforeDeath bool
	}{
		{"external call landed before the crash", true},
		{"crash before the external call", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				t.Parallel()
				effects(t, db)
				ext := newExternal(t, db)
				clock := newFakeClock()
				cfg := testConfig()
				cfg.Clock = clock
				cfg.Lease = time.Hour
				dead := saga.NewRunner(newStore(db), cfg)
				def := &saga.Definition{Name: "payment", Steps: []saga.Step{approveStep(ext), dbStep("create_order")}}
				require.NoError(t, dead.Register(def))
				in := start(t, db, dead, def, "order-1", saga.Inline())
				if tt.calledBeforeDeath {
					require.NoError(t, ext.call(context.Background(), in.ID+":approve:action"))
				}
				// The starting process is gone. Another runner waits for the lease.
				var resolved atomic.Bool
				cfg.Hooks.OnStep = func(e saga.StepEvent) {
					if e.Step == "approve" && e.Resolved {
						resolved.Store(true)
					}
				}
				r := saga.NewRunner(newStore(db), cfg)
				require.NoError(t, r.Register(def))
				runFor(t, r)
				time.Sleep(100 * time.Millisecond)
				got, err := r.Get(context.Background(), in.ID)
				require.NoError(t, err)
				require.Equal(t, saga.Running, got.State, "nobody takes a saga under a live lease")
				clock.Advance(2 * time.Hour)
				done := waitState(t, r, in.ID, saga.Completed)
				n, err := ext.lookup(context.Background(), in.ID+":approve:action")
				require.NoError(t, err)
				assert.Equal(t, 1, n, "the external system saw exactly one approve")
				assert.Equal(t, tt.calledBeforeDeath, resolved.Load())
				s, _ := done.Step("approve", saga.OpAction)
				assert.Equal(t, 2, s.Attempts)
				assert.Equal(t, 2, effectCount(t, db, "WHERE saga_id = ?", in.ID))
			})
		})
	}
}

// TestLease_StalledHolder_LateWriteRefused: a runner stalls in a step past
// its lease (F22); another takes over and finishes; the stale holder's
// late completion is refused and its writes never land.
func TestLease_StalledHolder_LateWriteRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		clock := newFakeClock()
		cfg := testConfig()
		cfg.Clock = clock
		cfg.Lease = time.Hour // no heartbeat fires during the test
		entered, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int64
		var lateCommits atomic.Int64
		step := saga.Step{
			Name: "slow",
			Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				if calls.Add(1) == 1 {
					close(entered)
					<-release
					return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
						lateCommits.Add(1)
						return recordEffect(ctx, tx, a)
					}}, nil
				}
				return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
			},
		}
		def := &saga.Definition{Name: "stall", Steps: []saga.Step{step}}
		stale := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, stale.Register(def))
		in := start(t, db, stale, def, "k", saga.Inline())
		staleErr := make(chan error, 1)
		go func() {
			_, err := stale.RunInline(context.Background(), in, 1)
			staleErr <- err
		}()
		<-entered
		clock.Advance(2 * time.Hour)
		fresh := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, fresh.Register(def))
		runFor(t, fresh)
		waitState(t, fresh, in.ID, saga.Completed)
		close(release)
		err := <-staleErr
		require.ErrorIs(t, err, saga.ErrLeaseLost)
		assert.Zero(t, lateCommits.Load(), "the stale holder's commit function never ran")
		assert.Equal(t, 1, effectCount(t, db, "WHERE saga_id = ?", in.ID))
		got, err := fresh.Get(context.Background(), in.ID)
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, got.State)
	})
}

func TestCompensation_RefusedForGood_NeedsAttentionThenRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		var refuse atomic.Bool
		refuse.Store(true)
		var compCalls atomic.Int64
		refund := dbStep("approve")
		inner := refund.Compensate
		refund.Compensate = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			n := compCalls.Add(1)
			switch {
			case n <= 2:
				return saga.Result{}, errors.New("PG timeout")
			case refuse.Load():
				return saga.Result{}, saga.Permanent(errors.New("NOT_CANCELABLE_PAYMENT"))
			}
			return inner(ctx, a)
		}
		refund.CompensationRetry = saga.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, AlertAfter: 2}
		order := dbStep("create_order")
		order.Action = func(context.Context, saga.Attempt) (saga.Result, error) {
			return saga.Result{}, saga.Permanent(errors.New("out of stock"))
		}
		def := &saga.Definition{Name: "payment", Steps: []saga.Step{refund, order}}
		var mu sync.Mutex
		var alerts []saga.Alert
		var transitions []saga.Transition
		cfg := testConfig()
		cfg.Hooks.OnAlert = func(a saga.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }
		cfg.Hooks.OnTransition = func(tr saga.Transition) { mu.Lock(); transitions = append(transitions, tr); mu.Unlock() }
		r := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, r.Register(def))
		runFor(t, r)
		in := start(t, db, r, def, "k")
		got := waitState(t, r, in.ID, saga.NeedsAttention)
		assert.Contains(t, got.Reason, "NOT_CANCELABLE_PAYMENT")
		assert.Contains(t, got.Reason, `compensation of step "approve"`)
		assert.Zero(t, got.RunAt)

		stuck, err := r.Stuck(context.Background(), 0, 10)
		require.NoError(t, err)
		require.Len(t, stuck, 1)
		assert.Equal(t, in.ID, stuck[0].ID)

		// The alert hook runs just after the commit the instance shows.
		waitCount(t, "alerts", 2, func() int { mu.Lock(); defer mu.Unlock(); return len(alerts) })
		mu.Lock()
		require.Len(t, alerts, 2, "one alert after AlertAfter transient failures, one for needing attention")
		assert.False(t, alerts[0].NeedsAttention)
		assert.Equal(t, 2, alerts[0].Attempts)
		assert.True(t, alerts[1].NeedsAttention)
		mu.Unlock()

		_, err = r.Retry(context.Background(), "no-such-saga")
		assert.ErrorIs(t, err, saga.ErrNotFound)

		refuse.Store(false)
		_, err = r.Retry(context.Background(), in.ID)
		require.NoError(t, err)
		done := waitState(t, r, in.ID, saga.Compensated)
		assert.Equal(t, 1, effectCount(t, db, "WHERE k = ?", in.ID+":approve:compensate"))
		_, err = r.Retry(context.Background(), in.ID)
		assert.ErrorIs(t, err, saga.ErrInvalidState)
		c, _ := done.Step("approve", saga.OpCompensate)
		assert.Equal(t, saga.StepDone, c.Status)

		// The transition hook, too, runs just after the commit.
		waitCount(t, "transitions", 4, func() int { mu.Lock(); defer mu.Unlock(); return len(transitions) })
		mu.Lock()
		defer mu.Unlock()
		var path []saga.State
		for _, tr := range transitions {
			require.True(t, saga.CanTransition(tr.From, tr.To), "%s -> %s", tr.From, tr.To)
			path = append(path, tr.To)
		}
		assert.Equal(t, []saga.State{saga.Compensating, saga.NeedsAttention, saga.Compensating, saga.Compensated}, path)
	})
}

func TestPivot_LaterStepExhausted_NeedsAttentionNotCompensation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		var fail atomic.Bool
		fail.Store(true)
		pivot := dbStep("approve")
		pivot.Pivot = true
		settle := dbStep("settle")
		inner := settle.Action
		settle.Action = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			if fail.Load() {
				return saga.Result{}, errors.New("ledger down")
			}
			return inner(ctx, a)
		}
		settle.Retry = saga.Policy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
		def := &saga.Definition{Name: "p", Steps: []saga.Step{pivot, settle}}
		r := saga.NewRunner(newStore(db), testConfig())
		require.NoError(t, r.Register(def))
		runFor(t, r)
		in := start(t, db, r, def, "k")
		got := waitState(t, r, in.ID, saga.NeedsAttention)
		assert.Contains(t, got.Reason, `after pivot step "approve"`)
		assert.Zero(t, effectCount(t, db, "WHERE k LIKE '%compensate'"), "nothing compensated past a pivot")
		fail.Store(false)
		_, err := r.Retry(context.Background(), in.ID)
		require.NoError(t, err)
		waitState(t, r, in.ID, saga.Completed)
		assert.Equal(t, 2, effectCount(t, db, "WHERE saga_id = ?", in.ID))
	})
}

func TestRun_Shutdown_FinishesInFlightStepAndHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		entered, release := make(chan struct{}), make(chan struct{})
		slow := dbStep("a")
		inner := slow.Action
		slow.Action = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
			close(entered)
			<-release
			return inner(ctx, a)
		}
		def := &saga.Definition{Name: "sd", Steps: []saga.Step{slow, dbStep("b")}}
		r := saga.NewRunner(newStore(db), testConfig())
		require.NoError(t, r.Register(def))
		stop := runFor(t, r)
		in := start(t, db, r, def, "k")
		<-entered
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		select {
		case <-stopped:
			t.Fatal("Run returned while a step was in flight")
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		<-stopped
		got, err := r.Get(context.Background(), in.ID)
		require.NoError(t, err)
		assert.Equal(t, saga.Running, got.State)
		assert.Equal(t, 1, got.StepIndex, "the in-flight step was recorded")
		assert.Empty(t, got.LeaseToken, "handed back, not left leased")
		assert.False(t, got.RunAt.After(time.Now()), "due at once for another runner")
		_, hasB := got.Step("b", saga.OpAction)
		assert.False(t, hasB, "the next step was not dispatched")
	})
}

// claimCounter is a saga.Store that counts the instances claims lease.
type claimCounter struct {
	saga.Store
	claimed atomic.Int64
}

func (c *claimCounter) ClaimInstances(ctx context.Context, tx *sql.Tx, cl saga.Claim) ([]saga.InstanceRecord, error) {
	recs, err := c.Store.ClaimInstances(ctx, tx, cl)
	c.claimed.Add(int64(len(recs)))
	return recs, err
}

// TestRunInline_HandedToAFreeWorker: while Run runs with a slot free, the
// step after the inline one is dispatched in the inline step's write and
// run in that slot with no claim, and it gets the inline step's Carry.
// With every slot taken, the instance is released for a claim instead,
// and the next step gets no Carry.
func TestRunInline_HandedToAFreeWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		st := &claimCounter{Store: newStore(db)}
		cfg := testConfig()
		cfg.Concurrency = 1
		r := saga.NewRunner(st, cfg)
		var carried sync.Map // saga id → what create_order got
		block, blocked := make(chan struct{}), make(chan struct{}, 1)
		def := &saga.Definition{Name: "payment", Steps: []saga.Step{
			{Name: "approve", Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				return saga.Result{Carry: "approved " + a.SagaID, Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
			}},
			{Name: "create_order", Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				carried.Store(a.SagaID, fmt.Sprint(a.Carried))
				if a.BusinessKey == "hold" {
					blocked <- struct{}{}
					<-block
				}
				return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
			}},
		}}
		require.NoError(t, r.Register(def))
		runFor(t, r)
		ctx := context.Background()
		// Run is up once it has gone round its loop.
		require.Eventually(t, func() bool { return !r.LastLoop().IsZero() }, 30*time.Second, 5*time.Millisecond)

		held := start(t, db, r, def, "hold", saga.Inline())
		after, err := r.RunInline(ctx, held, 1)
		require.NoError(t, err)
		assert.NotEmpty(t, after.LeaseToken, "handed off: the lease is kept")
		s, ok := after.Step("create_order", saga.OpAction)
		require.True(t, ok)
		assert.Equal(t, saga.StepDispatched, s.Status, "the next step is dispatched in the inline step's write")
		<-blocked // create_order of "hold" runs in the only slot

		other := start(t, db, r, def, "other", saga.Inline())
		after, err = r.RunInline(ctx, other, 1)
		require.NoError(t, err)
		assert.Empty(t, after.LeaseToken, "no slot free: released for a claim")
		close(block)

		waitState(t, r, held.ID, saga.Completed)
		waitState(t, r, other.ID, saga.Completed)
		assert.EqualValues(t, 1, st.claimed.Load(), "only the released instance was claimed")
		got, _ := carried.Load(held.ID)
		assert.Equal(t, "approved "+held.ID, got)
		got, _ = carried.Load(other.ID)
		assert.Equal(t, "<nil>", got, "a claimed instance's step gets no Carry")
		assert.Equal(t, 4, effectCount(t, db, ""))
	})
}
