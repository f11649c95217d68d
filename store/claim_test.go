package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

const racers = 50

// race runs fn from racers goroutines released at once and returns their
// errors.
func race(fn func(i int) error) []error {
	start := make(chan struct{})
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors matching want, and reports any other.
func tally(t *testing.T, errs []error, want error) (ok, matched int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			matched++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, matched
}

func TestClaimOrder_50ConcurrentPayments_ExactlyOneWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		order := orderID(t)
		payments := make([]*store.Payment, racers)
		for i := range payments {
			payments[i] = newPayment(order)
		}
		errs := race(func(i int) error {
			p := payments[i]
			return db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
				if err := db.InsertPayment(ctx, tx, p); err != nil {
					return err
				}
				if err := db.ClaimOrder(ctx, tx, order, p.ID); err != nil {
					return err
				}
				return db.AppendEvent(ctx, tx, newEvent(p, "PAYMENT_UNKNOWN"))
			})
		})
		ok, claimed := tally(t, errs, store.ErrOrderClaimed)
		assert.Equal(t, 1, ok)
		assert.Equal(t, racers-1, claimed)

		holder, err := db.OrderPayment(ctxT(t), order)
		require.NoError(t, err)
		var winner *store.Payment
		for i, p := range payments {
			if errs[i] == nil {
				winner = p
			}
		}
		require.NotNil(t, winner)
		assert.Equal(t, winner.ID, holder)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE order_id = ?", order), "the losers' payments rolled back with their claims")
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payment_events WHERE order_id = ?", order))
	})
}

func TestClaimOrder_SamePaymentAgain_IsNoOp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		for range 2 {
			tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.ClaimOrder(ctx, tx, p.OrderID, p.ID) })
		}
		err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.ClaimOrder(ctx, tx, p.OrderID, "pay_other") })
		require.ErrorIs(t, err, store.ErrOrderClaimed)
		assert.Contains(t, err.Error(), "held by "+p.ID)
	})
}

func TestClaimOrder_OrderIDsAreCaseSensitive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			if err := db.ClaimOrder(ctx, tx, "Order-A", "pay_1"); err != nil {
				return err
			}
			return db.ClaimOrder(ctx, tx, "order-a", "pay_2")
		})
		assert.Equal(t, 2, count(t, db, "SELECT COUNT(*) FROM payment_order_mapping"))
	})
}

func TestReleaseOrder_OnlyTheHolderReleases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		order := orderID(t)
		declined, next := newPayment(order), newPayment(order)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.ClaimOrder(ctx, tx, order, declined.ID) })

		// Someone else's release is refused and leaves the claim.
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.ReleaseOrder(ctx, tx, order, next.ID) })
		require.ErrorIs(t, err, store.ErrConflict)
		holder, err := db.OrderPayment(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, declined.ID, holder)

		// The holder's release frees the order for the next attempt; a
		// repeated release is harmless.
		for range 2 {
			tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.ReleaseOrder(ctx, tx, order, declined.ID) })
		}
		_, err = db.OrderPayment(ctx, order)
		require.ErrorIs(t, err, store.ErrNotFound)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.ClaimOrder(ctx, tx, order, next.ID) })
		holder, err = db.OrderPayment(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, next.ID, holder)
	})
}

func TestClaimOrder_BadInput(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.ClaimOrder(ctx, tx, "", "pay_1") })
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Contains(t, err.Error(), "order id is empty")
}

func TestInsertPayment_50ConcurrentSamePGKey_OneRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		errs := race(func(i int) error {
			p := newPayment(orderID(t))
			p.PaymentKey = "pk-shared"
			return db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) })
		})
		ok, dup := tally(t, errs, store.ErrDuplicate)
		assert.Equal(t, 1, ok)
		assert.Equal(t, racers-1, dup)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE payment_key = 'pk-shared'"))
	})
}

func TestInsertCancel_50ConcurrentSameIdempotencyKey_OneRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		errs := race(func(i int) error {
			c := &store.Cancel{
				ID: store.NewCancelID(), PaymentID: p.ID, IdempotencyKey: "cancel-" + p.ID,
				Amount: pg.Won(5000), Reason: "buyer asked", Status: store.CancelRequested,
			}
			return db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.InsertCancel(ctx, tx, c) })
		})
		ok, dup := tally(t, errs, store.ErrDuplicate)
		assert.Equal(t, 1, ok)
		assert.Equal(t, racers-1, dup)
		assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payment_cancels"))
	})
}
