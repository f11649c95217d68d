package idempotency_test

import (
	"context"
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

// countingStore counts the store calls a claim makes.
type countingStore struct {
	idempotency.Store
	inserts, gets atomic.Int64
}

func (s *countingStore) Insert(ctx context.Context, rec idempotency.Record) error {
	s.inserts.Add(1)
	return s.Store.Insert(ctx, rec)
}

func (s *countingStore) Get(ctx context.Context, scope, key string) (idempotency.Record, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, scope, key)
}

// Once a completed key has been read, repeats are answered from memory with
// the stored response, a different request under the key is still refused,
// and after the key expires the store decides again.
func TestDo_CompletedKeyAnsweredFromMemoryUntilItExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		cs := &countingStore{Store: idemstore.NewKeys(db)}
		m, clk := newManager(t, db, func(c *idempotency.Config) { c.Store = cs; c.TTL = time.Hour })
		ctx := context.Background()
		var runs atomic.Int64
		fn := func(context.Context) ([]byte, error) {
			runs.Add(1)
			return []byte("first answer"), nil
		}
		res, err := m.Do(ctx, "s", "k1", []byte("req"), fn)
		require.NoError(t, err)
		assert.False(t, res.Replayed)
		// The first repeat reads the row (a refused insert and a read).
		res, err = m.Do(ctx, "s", "k1", []byte("req"), fn)
		require.NoError(t, err)
		assert.True(t, res.Replayed)
		assert.Equal(t, "first answer", string(res.Value))
		inserts, gets := cs.inserts.Load(), cs.gets.Load()
		for range 5 {
			res, err = m.Do(ctx, "s", "k1", []byte("req"), fn)
			require.NoError(t, err)
			assert.True(t, res.Replayed)
			assert.Equal(t, "first answer", string(res.Value))
		}
		assert.Equal(t, inserts, cs.inserts.Load(), "repeats answered without the store")
		assert.Equal(t, gets, cs.gets.Load(), "repeats answered without the store")
		_, err = m.Do(ctx, "s", "k1", []byte("another request"), fn)
		assert.ErrorIs(t, err, idempotency.ErrKeyReused)
		assert.Equal(t, int64(1), runs.Load())

		// Expired: the store is asked again, and the key is taken anew.
		clk.Advance(time.Hour + time.Second)
		res, err = m.Do(ctx, "s", "k1", []byte("another request"), fn)
		require.NoError(t, err)
		assert.False(t, res.Replayed)
		assert.Equal(t, int64(2), runs.Load())
		assert.Greater(t, cs.inserts.Load(), inserts)
	})
}
