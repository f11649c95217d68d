package idemstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
	"github.com/paygate/paygate/store/storetest"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)

func claim(key, token string, lease, expires time.Time) idempotency.Record {
	return idempotency.Record{
		Scope: "tenant|POST /payments/approve", Key: key, Fingerprint: strings.Repeat("a", 64),
		State: idempotency.StateInFlight, Token: token, LeaseUntil: lease, ExpiresAt: expires, CreatedAt: t0,
	}
}

func TestKeys_InsertGet_RoundTripAndUnique(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := idemstore.NewKeys(db)
		rec := claim("k1", "tok1", t0.Add(time.Minute), t0.Add(24*time.Hour))
		require.NoError(t, k.Insert(ctx, rec))
		assert.ErrorIs(t, k.Insert(ctx, claim("k1", "tok2", t0, t0)), idempotency.ErrExists)

		got, err := k.Get(ctx, rec.Scope, "k1")
		require.NoError(t, err)
		assert.Equal(t, "tok1", got.Token)
		assert.Equal(t, idempotency.StateInFlight, got.State)
		assert.True(t, got.LeaseUntil.Equal(rec.LeaseUntil), "microsecond times survive: %v", got.LeaseUntil)
		assert.True(t, got.CreatedAt.Equal(t0))
		assert.True(t, got.CompletedAt.IsZero())

		_, err = k.Get(ctx, rec.Scope, "nope")
		assert.ErrorIs(t, err, idempotency.ErrNotFound)
		_, err = k.Get(ctx, "other scope", "k1")
		assert.ErrorIs(t, err, idempotency.ErrNotFound)

		// Keys compare byte for byte: case matters.
		require.NoError(t, k.Insert(ctx, claim("K1", "tok3", t0, t0)))
	})
}

func TestKeys_CompareAndSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := idemstore.NewKeys(db)
		rec := claim("cas", "holder", t0.Add(time.Minute), t0.Add(time.Hour))
		require.NoError(t, k.Insert(ctx, rec))

		ok, err := k.Extend(ctx, rec.Scope, "cas", "stranger", t0.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, ok, "only the holder extends")
		ok, err = k.Extend(ctx, rec.Scope, "cas", "holder", t0.Add(2*time.Minute))
		require.NoError(t, err)
		assert.True(t, ok)

		ok, err = k.TakeOver(ctx, "holder", t0.Add(time.Minute), claim("cas", "taker", t0, t0))
		require.NoError(t, err)
		assert.False(t, ok, "a live lease cannot be taken over")

		done := idempotency.Completion{
			Scope: rec.Scope, Key: "cas", Token: "stranger", CompletedAt: t0, ExpiresAt: t0.Add(time.Hour),
			Response: idempotency.Response{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("{}\x00")},
		}
		ok, err = k.Complete(ctx, done)
		require.NoError(t, err)
		assert.False(t, ok, "only the holder completes")
		done.Token = "holder"
		ok, err = k.Complete(ctx, done)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = k.Complete(ctx, done)
		require.NoError(t, err)
		assert.False(t, ok, "a completed key is not completed twice")

		got, err := k.Get(ctx, rec.Scope, "cas")
		require.NoError(t, err)
		assert.Equal(t, idempotency.StateCompleted, got.State)
		assert.Equal(t, 201, got.Response.Status)
		assert.Equal(t, "application/json", got.Response.Header.Get("Content-Type"))
		assert.Equal(t, []byte("{}\x00"), got.Response.Body)

		ok, err = k.Extend(ctx, rec.Scope, "cas", "holder", t0.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, ok, "a completed key has no lease to extend")
		ok, err = k.Release(ctx, rec.Scope, "cas", "holder")
		require.NoError(t, err)
		assert.False(t, ok, "a completed key is not released")

		ok, err = k.TakeOver(ctx, "holder", t0.Add(59*time.Minute), claim("cas", "taker", t0, t0))
		require.NoError(t, err)
		assert.False(t, ok, "not expired yet")
		ok, err = k.TakeOver(ctx, "holder", t0.Add(time.Hour), claim("cas", "taker", t0.Add(2*time.Hour), t0.Add(25*time.Hour)))
		require.NoError(t, err)
		assert.True(t, ok, "an expired key is taken over")
		got, err = k.Get(ctx, rec.Scope, "cas")
		require.NoError(t, err)
		assert.Equal(t, idempotency.StateInFlight, got.State)
		assert.Equal(t, "taker", got.Token)
		assert.Nil(t, got.Response.Body, "the old response is gone")

		ok, err = k.TakeOver(ctx, "holder", t0.Add(48*time.Hour), claim("cas", "third", t0, t0))
		require.NoError(t, err)
		assert.False(t, ok, "the previous token no longer holds it")

		ok, err = k.Release(ctx, rec.Scope, "cas", "taker")
		require.NoError(t, err)
		assert.True(t, ok)
		_, err = k.Get(ctx, rec.Scope, "cas")
		assert.ErrorIs(t, err, idempotency.ErrNotFound)
	})
}

func TestKeys_TakeOver_ConcurrentTakersOneWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := idemstore.NewKeys(db)
		require.NoError(t, k.Insert(ctx, claim("race", "dead", t0, t0.Add(time.Hour))))
		var wg sync.WaitGroup
		wins := make(chan string, 10)
		for i := range 10 {
			wg.Go(func() {
				tok := "taker-" + string(rune('a'+i))
				ok, err := k.TakeOver(ctx, "dead", t0.Add(time.Second), claim("race", tok, t0.Add(time.Minute), t0.Add(time.Hour)))
				if assert.NoError(t, err) && ok {
					wins <- tok
				}
			})
		}
		wg.Wait()
		close(wins)
		var winners []string
		for w := range wins {
			winners = append(winners, w)
		}
		require.Len(t, winners, 1)
		got, err := k.Get(ctx, "tenant|POST /payments/approve", "race")
		require.NoError(t, err)
		assert.Equal(t, winners[0], got.Token)
	})
}

func TestKeys_CompleteTx_FollowsTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := idemstore.NewKeys(db)
		rec := claim("tx", "holder", t0.Add(time.Minute), t0.Add(time.Hour))
		require.NoError(t, k.Insert(ctx, rec))
		done := idempotency.Completion{Scope: rec.Scope, Key: "tx", Token: "holder", CompletedAt: t0, ExpiresAt: t0.Add(time.Hour),
			Response: idempotency.Response{Status: 200, Body: []byte("ok")}}

		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ok, err := k.CompleteTx(ctx, tx, done)
			require.NoError(t, err)
			require.True(t, ok)
			return assert.AnError // roll back
		})
		require.ErrorIs(t, err, assert.AnError)
		got, err := k.Get(ctx, rec.Scope, "tx")
		require.NoError(t, err)
		assert.Equal(t, idempotency.StateInFlight, got.State, "rolled back with the transaction")

		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := k.CompleteTx(ctx, tx, done)
			return err
		}))
		got, err = k.Get(ctx, rec.Scope, "tx")
		require.NoError(t, err)
		assert.Equal(t, idempotency.StateCompleted, got.State)
		assert.Equal(t, "ok", string(got.Response.Body))
	})
}

func TestKeys_DeleteExpired_RespectsLimitAndLiveLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := idemstore.NewKeys(db)
		for i := range 7 {
			require.NoError(t, k.Insert(ctx, claim("old-"+string(rune('a'+i)), "t", t0, t0.Add(time.Duration(i)*time.Minute))))
		}
		require.NoError(t, k.Insert(ctx, claim("fresh", "t", t0, t0.Add(48*time.Hour))))
		require.NoError(t, k.Insert(ctx, claim("held", "t", t0.Add(72*time.Hour), t0)))

		now := t0.Add(time.Hour)
		n, err := k.DeleteExpired(ctx, now, 5)
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		n, err = k.DeleteExpired(ctx, now, 5)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = k.DeleteExpired(ctx, now, 5)
		require.NoError(t, err)
		assert.Zero(t, n)
		for _, key := range []string{"fresh", "held"} {
			_, err := k.Get(ctx, "tenant|POST /payments/approve", key)
			assert.NoError(t, err, key)
		}
	})
}

// A key read whose statement is killed (KILL QUERY: 1317; KILL
// CONNECTION: the connection lost mid-read) is read again: the request
// gets its answer instead of "store unavailable". The read is made to wait
// on a table lock so the kill meets it running.
func TestKeys_Get_KilledReadIsReadAgain(t *testing.T) {
	for _, kill := range []string{"KILL QUERY", "KILL CONNECTION"} {
		t.Run(kill, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, store.MySQL)
			ctx := context.Background()
			k := idemstore.NewKeys(db)
			rec := claim("killed", "tok", t0.Add(time.Minute), t0.Add(time.Hour))
			require.NoError(t, k.Insert(ctx, rec))

			locker, err := db.SQL().Conn(ctx)
			require.NoError(t, err)
			defer locker.Close()
			_, err = locker.ExecContext(ctx, "LOCK TABLES idempotency_keys WRITE")
			require.NoError(t, err)
			killed := make(chan error, 1)
			go func() {
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					var id int64
					err := db.SQL().QueryRowContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST
WHERE DB = DATABASE() AND INFO LIKE 'SELECT scope, idem_key%' LIMIT 1`).Scan(&id)
					if err == nil {
						_, err = db.SQL().ExecContext(ctx, fmt.Sprintf("%s %d", kill, id))
						time.Sleep(100 * time.Millisecond)
						_, uerr := locker.ExecContext(ctx, "UNLOCK TABLES")
						killed <- errors.Join(err, uerr)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				_, _ = locker.ExecContext(ctx, "UNLOCK TABLES")
				killed <- errors.New("the read never waited")
			}()
			got, err := k.Get(ctx, rec.Scope, "killed")
			require.NoError(t, <-killed)
			require.NoError(t, err, "the killed read is read again")
			assert.Equal(t, "tok", got.Token)
		})
	}
}
