package app_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func req(orderID, paymentID string, amount int64) paygate.OrderRequest {
	return paygate.OrderRequest{OrderID: orderID, PaymentID: paymentID, PG: "inicis", Amount: pg.Won(amount)}
}

func TestOrders_PlaceIsIdempotentForTheSameAmount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := app.NewOrders(db, nil)
		ctx := context.Background()
		require.NoError(t, o.Place(ctx, "o-1", pg.Won(15000), "", 0))
		require.NoError(t, o.Place(ctx, "o-1", pg.Won(15000), "", 0), "the same order again")
		assert.ErrorIs(t, o.Place(ctx, "o-1", pg.Won(1500), "", 0), app.ErrOrderExists)
		got, err := o.Get(ctx, "o-1")
		require.NoError(t, err)
		assert.Equal(t, app.Order{OrderID: "o-1", Status: app.OrderPendingPayment}, got)
		amount, err := o.Amount(ctx, "o-1")
		require.NoError(t, err)
		assert.True(t, amount.Equal(pg.Won(15000)))
		_, err = o.Get(ctx, "nope")
		assert.ErrorIs(t, err, app.ErrOrderNotFound)
	})
}

func TestOrders_CreateOrder_IdempotentByPaymentAndRefusesAnother(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := app.NewOrders(db, nil)
		ctx := context.Background()
		require.NoError(t, o.Place(ctx, "o-2", pg.Won(9000), "", 0))
		require.NoError(t, o.CreateOrder(ctx, req("o-2", "pay_a", 9000)))
		require.NoError(t, o.CreateOrder(ctx, req("o-2", "pay_a", 9000)), "a repeat for the same payment succeeds")
		err := o.CreateOrder(ctx, req("o-2", "pay_b", 9000))
		assert.True(t, paygate.IsPermanent(err), "another payment for a paid order is refused for good: %v", err)

		require.NoError(t, o.RollbackOrder(ctx, req("o-2", "pay_b", 9000)), "rolling back for a payment that did not pay it")
		got, _ := o.Get(ctx, "o-2")
		assert.Equal(t, app.OrderPaid, got.Status, "changes nothing")
		assert.Equal(t, "pay_a", got.PaymentID)

		err = o.CreateOrder(ctx, req("o-missing", "pay_c", 9000))
		assert.True(t, paygate.IsPermanent(err))
		assert.ErrorIs(t, err, app.ErrOrderNotFound)

		require.NoError(t, o.Place(ctx, "o-3", pg.Won(9000), "", 0))
		err = o.CreateOrder(ctx, req("o-3", "pay_d", 8000))
		assert.True(t, paygate.IsPermanent(err), "a payment of another amount is refused for good")
	})
}

func TestOrders_ScriptedFailures_PermanentAndExactlyNTransient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := app.NewOrders(db, nil)
		ctx := context.Background()
		require.NoError(t, o.Place(ctx, "o-perm", pg.Won(5000), app.FailPermanent, 0))
		err := o.CreateOrder(ctx, req("o-perm", "pay_p", 5000))
		assert.True(t, paygate.IsPermanent(err), "%v", err)

		require.NoError(t, o.Place(ctx, "o-flaky", pg.Won(5000), app.FailTransient, 3))
		for i := range 3 {
			err := o.CreateOrder(ctx, req("o-flaky", "pay_f", 5000))
			require.Error(t, err, "attempt %d fails", i+1)
			assert.False(t, paygate.IsPermanent(err), "a transient failure is retried")
		}
		require.NoError(t, o.CreateOrder(ctx, req("o-flaky", "pay_f", 5000)), "the fourth attempt succeeds")
		got, _ := o.Get(ctx, "o-flaky")
		assert.Equal(t, app.OrderPaid, got.Status)
	})
}

func TestOrders_RollbackAndShipment_MoveOnlyForward(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := app.NewOrders(db, nil)
		ctx := context.Background()
		require.NoError(t, o.Place(ctx, "o-ship", pg.Won(7000), "", 0))
		require.NoError(t, o.CreateOrder(ctx, req("o-ship", "pay_s", 7000)))
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return o.StartShipment(ctx, tx, "o-ship", "pay_other")
		}))
		got, _ := o.Get(ctx, "o-ship")
		assert.Equal(t, app.OrderPaid, got.Status, "another payment's event does not ship the order")
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return o.StartShipment(ctx, tx, "o-ship", "pay_s")
		}))
		got, _ = o.Get(ctx, "o-ship")
		assert.Equal(t, app.OrderPreparingShipment, got.Status)

		require.NoError(t, o.Place(ctx, "o-roll", pg.Won(7000), "", 0))
		require.NoError(t, o.RollbackOrder(ctx, req("o-roll", "pay_r", 7000)))
		require.NoError(t, o.RollbackOrder(ctx, req("o-roll", "pay_r", 7000)), "again: nothing to do")
		got, _ = o.Get(ctx, "o-roll")
		assert.Equal(t, app.OrderCanceled, got.Status)
		err := o.CreateOrder(ctx, req("o-roll", "pay_r2", 7000))
		assert.True(t, paygate.IsPermanent(err), "a canceled order is not created")
		require.NoError(t, o.RollbackOrder(ctx, req("o-none", "pay_x", 7000)), "an unknown order rolls back as a no-op")
	})
}
