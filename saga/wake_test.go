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
