package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestCheckout_InsertReadUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		expires := time.Now().Add(30 * time.Minute)
		c := &store.Checkout{
			OrderID: orderID(t), PG: "kakaopay", Amount: pg.Won(39000), OrderName: "티셔츠 외 2건",
			PrepareData: json.RawMessage(`{"tid":"T1234567890"}`), ExpiresAt: expires,
		}
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCheckout(ctx, tx, c) })

		got, err := db.CheckoutByOrder(ctx, c.OrderID)
		require.NoError(t, err)
		assert.Equal(t, "kakaopay", got.PG)
		assert.True(t, got.Amount.Equal(pg.Won(39000)))
		assert.Equal(t, "티셔츠 외 2건", got.OrderName)
		assert.JSONEq(t, `{"tid":"T1234567890"}`, string(got.PrepareData))
		assert.True(t, got.ExpiresAt.Equal(expires.Truncate(time.Microsecond)))

		dup := *c
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCheckout(ctx, tx, &dup) })
		require.ErrorIs(t, err, store.ErrDuplicate)

		// Prepared again with another PG: no prepare data, no expiry.
		c.PG, c.PrepareData, c.ExpiresAt = "tosspay", nil, time.Time{}
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCheckout(ctx, tx, c) })
		got, err = db.CheckoutByOrder(ctx, c.OrderID)
		require.NoError(t, err)
		assert.Equal(t, "tosspay", got.PG)
		assert.Nil(t, got.PrepareData)
		assert.True(t, got.ExpiresAt.IsZero())

		_, err = db.CheckoutByOrder(ctx, "missing")
		require.ErrorIs(t, err, store.ErrNotFound)
		missing := *c
		missing.OrderID = "missing"
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCheckout(ctx, tx, &missing) })
		require.ErrorIs(t, err, store.ErrNotFound)

		bad := &store.Checkout{OrderID: "x", PG: "tosspay"}
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.InsertCheckout(ctx, tx, bad) })
		require.ErrorIs(t, err, store.ErrInvalid)
		assert.Contains(t, err.Error(), "amount not set")
	})
}

// InsertCheckouts writes its checkouts in one statement that commits on its
// own: all of them, or — when an order has a checkout already, or one of
// them is invalid — none. Called inside a transaction it refuses, as InTx
// does, and writes nothing.
func TestCheckout_InsertCheckoutsCommitOnTheirOwn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		a, b, c, d := orderID(t)+"-a", orderID(t)+"-b", orderID(t)+"-c", orderID(t)+"-d"
		ca, cb := socks(a), socks(b)
		require.NoError(t, db.InsertCheckouts(ctx, ca, cb))
		for _, co := range []*store.Checkout{ca, cb} {
			got, err := db.CheckoutByOrder(ctx, co.OrderID)
			require.NoError(t, err)
			assert.True(t, got.Amount.Equal(pg.Won(15000)))
			assert.False(t, co.CreatedAt.IsZero(), "CreatedAt set")
			assert.Equal(t, co.CreatedAt, co.UpdatedAt)
		}

		err := db.InsertCheckouts(ctx, socks(c), socks(a))
		require.ErrorIs(t, err, store.ErrDuplicate)
		_, err = db.CheckoutByOrder(ctx, c)
		require.ErrorIs(t, err, store.ErrNotFound, "the statement that failed wrote nothing")

		err = db.InsertCheckouts(ctx, socks(c), &store.Checkout{OrderID: d, PG: "tosspay"})
		require.ErrorIs(t, err, store.ErrInvalid)
		for _, o := range []string{c, d} {
			_, err = db.CheckoutByOrder(ctx, o)
			require.ErrorIs(t, err, store.ErrNotFound, "an invalid checkout sends nothing")
		}

		err = db.InTx(ctx, func(ctx context.Context, _ *sql.Tx) error { return db.InsertCheckouts(ctx, socks(c)) })
		require.ErrorIs(t, err, store.ErrNestedTx)
		_, err = db.CheckoutByOrder(ctx, c)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// socks is a new checkout of order.
func socks(order string) *store.Checkout {
	return &store.Checkout{OrderID: order, PG: "tosspay", Amount: pg.Won(15000), OrderName: "양말"}
}

// LockCheckoutAttempts reads the checkout with every attempt of its order,
// oldest first, and the claim's holder, in one statement; an order without
// a checkout is ErrNotFound, one without attempts has none. On MySQL the
// checkout is locked until the transaction ends.
func TestLockCheckoutAttempts_CheckoutAttemptsAndHolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		order := orderID(t)
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, _, _, err := db.LockCheckoutAttempts(ctx, tx, order)
			return err
		})
		require.ErrorIs(t, err, store.ErrNotFound)

		expires := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			return db.InsertCheckout(ctx, tx, &store.Checkout{OrderID: order, PG: "tosspay", Amount: pg.Won(15000),
				OrderName: "양말", ExpiresAt: expires, PrepareData: []byte(`{"client":{"k":"v"}}`)})
		})
		want, err := db.CheckoutByOrder(ctx, order)
		require.NoError(t, err)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			c, holder, attempts, err := db.LockCheckoutAttempts(ctx, tx, order)
			require.NoError(t, err)
			assert.Equal(t, want, c)
			assert.Empty(t, holder)
			assert.Empty(t, attempts)
			return nil
		})

		first, second := newPayment(order), newPayment(order)
		first.CreatedAt = time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
		insertPayment(t, db, first)
		first.Status, first.FailureCode = pg.StatusFailed, "DECLINED"
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, first, 1) })
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			if err := db.InsertPayment(ctx, tx, second); err != nil {
				return err
			}
			return db.ClaimOrder(ctx, tx, order, second.ID)
		})
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			c, holder, attempts, err := db.LockCheckoutAttempts(ctx, tx, order)
			require.NoError(t, err)
			assert.Equal(t, want, c)
			assert.Equal(t, second.ID, holder)
			require.Len(t, attempts, 2)
			for i, p := range []*store.Payment{first, second} {
				stored, err := db.PaymentByIDTx(ctx, tx, p.ID)
				require.NoError(t, err)
				assert.Equal(t, stored, attempts[i], "attempt %d as PaymentByID reads it", i)
			}
			return nil
		})

		if db.Dialect() != store.MySQL {
			return
		}
		// A second locking read of the checkout waits for the first
		// transaction to end.
		locked := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, _, _, err := db.LockCheckoutAttempts(ctx, tx, order); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		waited := make(chan time.Time, 1)
		go func() {
			_ = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := db.LockCheckout(ctx, tx, order)
				waited <- time.Now()
				return err
			})
		}()
		time.Sleep(100 * time.Millisecond)
		released := time.Now()
		close(release)
		require.NoError(t, <-done)
		assert.False(t, (<-waited).Before(released), "the second lock was granted before the first transaction ended")
	})
}
