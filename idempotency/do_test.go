package idempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
	"github.com/paygate/paygate/store/storetest"
)

func TestDo_RunsOnceThenReplays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		ctx := context.Background()
		var runs atomic.Int64
		fn := func(ctx context.Context) ([]byte, error) {
			runs.Add(1)
			return []byte("settled:15000\x00"), nil
		}
		msg := []byte(`{"event":"ORDER_CREATED","orderId":"o-1"}`)

		res, err := m.Do(ctx, "settlement", "evt_1", msg, fn)
		require.NoError(t, err)
		assert.False(t, res.Replayed)
		assert.Equal(t, []byte("settled:15000\x00"), res.Value)

		res, err = m.Do(ctx, "settlement", "evt_1", msg, fn)
		require.NoError(t, err)
		assert.True(t, res.Replayed)
		assert.Equal(t, []byte("settled:15000\x00"), res.Value)
		assert.EqualValues(t, 1, runs.Load())

		_, err = m.Do(ctx, "settlement", "evt_1", []byte(`{"other":true}`), fn)
		assert.ErrorIs(t, err, idempotency.ErrKeyReused)

		res, err = m.Do(ctx, "ledger", "evt_1", msg, fn)
		require.NoError(t, err)
		assert.False(t, res.Replayed, "another scope is another key")
		assert.EqualValues(t, 2, runs.Load())
	})
}

func TestDo_Concurrent_FnRunsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		release, free := gate()
		defer free()
		fn := func(ctx context.Context) ([]byte, error) {
			runs.Add(1)
			<-release
			return []byte("v"), nil
		}
		const n = 20
		var inFlight atomic.Int64
		var wg sync.WaitGroup
		results := make(chan idempotency.Result, n)
		for range n {
			wg.Go(func() {
				res, err := m.Do(context.Background(), "jobs", "job-1", []byte("payload"), fn)
				if errors.Is(err, idempotency.ErrInFlight) {
					inFlight.Add(1)
					return
				}
				if assert.NoError(t, err) {
					results <- res
				}
			})
		}
		eventually(t, "every other caller was told the key is in flight", func() bool { return inFlight.Load() == n-1 })
		free()
		wg.Wait()
		close(results)
		got := 0
		for res := range results {
			got++
			assert.Equal(t, []byte("v"), res.Value)
		}
		assert.Equal(t, 1, got)
		assert.EqualValues(t, 1, runs.Load())
	})
}

func TestDo_ErrorOrPanic_ReleasesKeyForRedelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		ctx := context.Background()
		boom := errors.New("ledger locked")

		_, err := m.Do(ctx, "s", "k-err", nil, func(context.Context) ([]byte, error) { return nil, boom })
		assert.ErrorIs(t, err, boom)
		_, err = m.Do(ctx, "s", "k-err", nil, func(context.Context) ([]byte, error) { panic("bad handler") })
		assert.ErrorIs(t, err, idempotency.ErrPanic)
		assert.Zero(t, countKeys(t, db))

		res, err := m.Do(ctx, "s", "k-err", nil, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
		require.NoError(t, err)
		assert.False(t, res.Replayed)
		assert.Equal(t, "ok", string(res.Value))
	})
}

func TestDo_InvalidKeyOrScope_RefusedNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		never := func(context.Context) ([]byte, error) {
			t.Error("fn must not run")
			return nil, nil
		}
		for _, tt := range []struct {
			name, scope, key string
			want             error
		}{
			{"empty key", "s", "", idempotency.ErrInvalidKey},
			{"long key", "s", strings.Repeat("k", 256), idempotency.ErrInvalidKey},
			{"non-ASCII key", "s", "주문-1", idempotency.ErrInvalidKey},
			{"long scope", strings.Repeat("s", 256), "k", idempotency.ErrInvalidScope},
			{"invalid UTF-8 scope", "\xff", "k", idempotency.ErrInvalidScope},
		} {
			_, err := m.Do(context.Background(), tt.scope, tt.key, nil, never)
			assert.ErrorIs(t, err, tt.want, tt.name)
		}
		assert.Zero(t, countKeys(t, db))
	})
}

func TestDo_CompleteResultTx_StoredWithBusinessChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.SQL().Exec("CREATE TABLE test_ledger (entry_id VARCHAR(64) NOT NULL PRIMARY KEY)")
		require.NoError(t, err)
		m, _ := newManager(t, db, nil)
		ctx := context.Background()
		res, err := m.Do(ctx, "settlement", "evt_9", []byte("m"), func(ctx context.Context) ([]byte, error) {
			h := idempotency.FromContext(ctx)
			err := db.InTx(ctx, func(txCtx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(txCtx, "INSERT INTO test_ledger (entry_id) VALUES ('e-9')"); err != nil {
					return err
				}
				return h.CompleteResultTx(txCtx, tx, []byte("entry e-9"))
			})
			// The commit landed but the caller saw an error: the stored
			// value is still the outcome.
			if err == nil {
				err = errors.New("connection reset after commit")
			}
			return nil, err
		})
		require.NoError(t, err)
		assert.Equal(t, "entry e-9", string(res.Value))

		res, err = m.Do(ctx, "settlement", "evt_9", []byte("m"), func(context.Context) ([]byte, error) {
			t.Error("must not run again")
			return nil, nil
		})
		require.NoError(t, err)
		assert.True(t, res.Replayed)
		assert.Equal(t, "entry e-9", string(res.Value))
	})
}

// countingKeys counts DeleteExpired calls (one per reaper batch).
type countingKeys struct {
	idempotency.Store
	batches atomic.Int64
}

func (c *countingKeys) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	c.batches.Add(1)
	return c.Store.DeleteExpired(ctx, now, limit)
}

func TestReap_DeletesExpiredInSmallBatches_KeepsLiveClaims(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		keys := &countingKeys{Store: idemstore.NewKeys(db)}
		m, clk := newManager(t, db, func(c *idempotency.Config) {
			c.Store = keys
			c.TTL = time.Hour
			c.ReapBatch = 10
		})
		ctx := context.Background()
		for i := range 25 {
			_, err := m.Do(ctx, "s", fmt.Sprintf("done-%d", i), nil, func(context.Context) ([]byte, error) { return []byte("x"), nil })
			require.NoError(t, err)
		}
		// Two claims older than the TTL: one abandoned, one whose holder
		// still renews its lease (a very long request).
		now := clk.Now()
		for _, c := range []struct {
			key   string
			lease time.Time
		}{{"abandoned", now.Add(time.Hour)}, {"live", now.Add(10 * time.Hour)}} {
			require.NoError(t, keys.Insert(ctx, idempotency.Record{
				Scope: "s", Key: c.key, Fingerprint: strings.Repeat("0", 64), State: idempotency.StateInFlight,
				Token: "t-" + c.key, LeaseUntil: c.lease, ExpiresAt: now.Add(time.Minute), CreatedAt: now,
			}))
		}
		n, err := m.Reap(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing has expired yet")

		clk.Advance(2 * time.Hour)
		keys.batches.Store(0)
		n, err = m.Reap(ctx)
		require.NoError(t, err)
		assert.Equal(t, 26, n, "25 completed keys and the abandoned claim")
		assert.EqualValues(t, 3, keys.batches.Load(), "in batches of at most 10")
		assert.Equal(t, 1, countKeys(t, db))
		live, err := keys.Get(ctx, "s", "live")
		require.NoError(t, err)
		assert.Equal(t, "t-live", live.Token)
	})
}

func TestRunReaper_StopsWithContext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, clk := newManager(t, db, func(c *idempotency.Config) { c.TTL = time.Minute })
		_, err := m.Do(context.Background(), "s", "k", nil, func(context.Context) ([]byte, error) { return nil, nil })
		require.NoError(t, err)
		clk.Advance(time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.RunReaper(ctx, 10*time.Millisecond) }()
		eventually(t, "the reaper deleted the expired key", func() bool { return countKeys(t, db) == 0 })
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}
