package saga_test

import (
	"context"
	"errors"
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

// flakyStep is a dbStep whose action fails transiently fails times, then
// works; refuse makes it fail permanently instead.
func flakyStep(name string, fails int64, refuse *atomic.Bool, calls *atomic.Int64) saga.Step {
	st := dbStep(name)
	inner := st.Action
	st.Action = func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
		n := calls.Add(1)
		switch {
		case refuse != nil && refuse.Load():
			return saga.Result{}, saga.Permanent(errors.New("refused for good"))
		case n <= fails:
			return saga.Result{}, errors.New("order service down")
		}
		return inner(ctx, a)
	}
	return st
}

type alertLog struct {
	mu     sync.Mutex
	alerts []saga.Alert
}

func (l *alertLog) add(a saga.Alert) { l.mu.Lock(); l.alerts = append(l.alerts, a); l.mu.Unlock() }

func (l *alertLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.alerts) }

func (l *alertLog) get() []saga.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]saga.Alert(nil), l.alerts...)
}

// A MustComplete step outlasts its policy's MaxAttempts (and the default's
// five) instead of compensating: the step that moved money before it is
// never undone, alerts are raised every AlertAfter attempts, and the
// saga shows why it is still running.
func TestMustComplete_TransientFailures_RetriedPastMaxAttemptsWithAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		var calls atomic.Int64
		refund := dbStep("refund")
		rollback := flakyStep("rollback_order", 7, nil, &calls)
		rollback.MustComplete = true
		rollback.Retry = saga.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, AlertAfter: 3}
		def := &saga.Definition{Name: "refund", Steps: []saga.Step{refund, rollback}}
		var log alertLog
		cfg := testConfig()
		cfg.Hooks.OnAlert = log.add
		r := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, r.Register(def))
		runFor(t, r)
		in := start(t, db, r, def, "k")

		got := waitState(t, r, in.ID, saga.Completed)
		assert.Equal(t, int64(8), calls.Load(), "seven failures, then the attempt that worked")
		s, _ := got.Step("rollback_order", saga.OpAction)
		assert.Equal(t, 8, s.Attempts)
		assert.Empty(t, got.Reason, "a completed saga carries no failure")
		assert.Equal(t, 1, effectCount(t, db, "WHERE k = ?", in.ID+":rollback_order:action"))
		assert.Zero(t, effectCount(t, db, "WHERE k LIKE '%compensate'"), "nothing compensated")
		waitCount(t, "alerts", 2, log.len)
		for _, a := range log.get() {
			assert.False(t, a.NeedsAttention)
			assert.Equal(t, "rollback_order", a.Step)
		}
	})
}

// While a MustComplete step keeps failing, the saga is listed by Stuck with
// the last failure as its reason; an operator who did the work by hand
// resolves it, and it is never called again.
func TestMustComplete_KeepsFailing_StuckWithReasonUntilResolved(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		var calls atomic.Int64
		rollback := flakyStep("rollback_order", 1<<40, nil, &calls)
		rollback.MustComplete = true
		rollback.Retry = saga.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, AlertAfter: 2}
		def := &saga.Definition{Name: "refund", Steps: []saga.Step{dbStep("refund"), rollback}}
		var log alertLog
		cfg := testConfig()
		cfg.Hooks.OnAlert = log.add
		r := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, r.Register(def))
		stop := runFor(t, r)
		in := start(t, db, r, def, "k")

		// Past the default policy's five attempts.
		waitCount(t, "attempts past the default's", 1, func() int {
			got, err := r.Get(context.Background(), in.ID)
			require.NoError(t, err)
			s, _ := got.Step("rollback_order", saga.OpAction)
			return b2i(s.Attempts > 2*saga.DefaultPolicy.MaxAttempts)
		})
		stuck, err := r.Stuck(context.Background(), 0, 10)
		require.NoError(t, err)
		require.Len(t, stuck, 1)
		assert.Equal(t, saga.Running, stuck[0].State)
		assert.Contains(t, stuck[0].Reason, `step "rollback_order"`)
		assert.Contains(t, stuck[0].Reason, "order service down")
		assert.Greater(t, log.len(), 2, "alerts every AlertAfter attempts")

		// Resolving waits for the runner to let go of the instance.
		stop()
		_, err = r.Resolve(context.Background(), in.ID, "")
		assert.ErrorIs(t, err, saga.ErrInvalid, "a note is required")
		got, err := r.Resolve(context.Background(), in.ID, "order canceled in the shop console")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, got.State)
		assert.Equal(t, "resolved by an operator: order canceled in the shop console", got.Reason)
		assert.Zero(t, got.RunAt, "no runner picks it up again")
		_, err = r.Resolve(context.Background(), in.ID, "again")
		assert.ErrorIs(t, err, saga.ErrInvalidState)
		stuck, err = r.Stuck(context.Background(), 0, 10)
		require.NoError(t, err)
		assert.Empty(t, stuck)
		assert.Zero(t, effectCount(t, db, "WHERE k LIKE '%compensate'"), "nothing compensated")
	})
}

// A MustComplete step refused for good sends the saga to NEEDS_ATTENTION
// (with an alert) instead of compensating; Retry runs it again, Resolve
// ends it.
func TestMustComplete_Refused_NeedsAttentionThenRetryOrResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		var refuse atomic.Bool
		refuse.Store(true)
		var calls atomic.Int64
		cancel := flakyStep("cancel", 0, &refuse, &calls)
		cancel.MustComplete = true
		def := &saga.Definition{Name: "refund", Steps: []saga.Step{cancel, dbStep("rollback_order")}}
		var log alertLog
		cfg := testConfig()
		cfg.Hooks.OnAlert = log.add
		r := saga.NewRunner(newStore(db), cfg)
		require.NoError(t, r.Register(def))
		runFor(t, r)

		retried := start(t, db, r, def, "retried")
		got := waitState(t, r, retried.ID, saga.NeedsAttention)
		assert.Contains(t, got.Reason, `step "cancel" refused`)
		assert.Contains(t, got.Reason, "refused for good")
		assert.Equal(t, int64(1), calls.Load(), "a refusal is not retried by itself")
		waitCount(t, "alerts", 1, log.len)
		assert.True(t, log.get()[0].NeedsAttention)

		resolved := start(t, db, r, def, "resolved")
		waitState(t, r, resolved.ID, saga.NeedsAttention)
		done, err := r.Resolve(context.Background(), resolved.ID, "refunded by bank transfer")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, done.State)

		refuse.Store(false)
		_, err = r.Retry(context.Background(), retried.ID)
		require.NoError(t, err)
		waitState(t, r, retried.ID, saga.Completed)
		assert.Equal(t, 2, effectCount(t, db, "WHERE saga_id = ?", retried.ID))
		assert.Zero(t, effectCount(t, db, "WHERE saga_id = ?", resolved.ID), "a resolved saga runs nothing more")
	})
}

// Resolve of a compensation refused for good ends the saga COMPENSATED.
func TestResolve_RefusedCompensation_Compensated(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	effects(t, db)
	refund := dbStep("approve")
	refund.Compensate = func(context.Context, saga.Attempt) (saga.Result, error) {
		return saga.Result{}, saga.Permanent(errors.New("NOT_CANCELABLE_PAYMENT"))
	}
	order := dbStep("create_order")
	order.Action = func(context.Context, saga.Attempt) (saga.Result, error) {
		return saga.Result{}, saga.Permanent(errors.New("out of stock"))
	}
	def := &saga.Definition{Name: "payment", Steps: []saga.Step{refund, order}}
	r := saga.NewRunner(newStore(db), testConfig())
	require.NoError(t, r.Register(def))
	runFor(t, r)
	in := start(t, db, r, def, "k")
	waitState(t, r, in.ID, saga.NeedsAttention)
	got, err := r.Resolve(context.Background(), in.ID, "refunded in the PG console")
	require.NoError(t, err)
	assert.Equal(t, saga.Compensated, got.State)
	assert.True(t, saga.CanTransition(saga.NeedsAttention, saga.Compensated))
	_, err = r.Resolve(context.Background(), "no-such-saga", "x")
	assert.ErrorIs(t, err, saga.ErrNotFound)
}
