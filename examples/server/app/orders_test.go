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
	}, app.Migrations())
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
	}, app.Migrations())
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
	}, app.Migrations())
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
	}, app.Migrations())
}

func TestMigrations_ShopTableKeepsItsVersionAndChecksum(t *testing.T) {
	// The checksums databases migrated before Migrations existed recorded
	// (the files have not changed), so they migrate without applying 0900
	// again.
	want := map[store.Dialect]string{
		store.MySQL:  "90886cc6629b1971ebb873db2ba18d5b1aaf3c0ae1c5dad20c80e920d0a28f0f",
		store.SQLite: "e0550d439b75a4ad7b60a52c8ad82f93a0ed56acb1e888d1056221dc14a5e99f",
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		read := func() (name, sum string) {
			require.NoError(t, db.SQL().QueryRowContext(ctx,
				"SELECT name, checksum FROM paygate_schema_migrations WHERE version = 900").Scan(&name, &sum))
			return name, sum
		}
		name, sum := read()
		assert.Equal(t, "example-shop/0900_example_orders", name)
		assert.Equal(t, want[db.Dialect()], sum)

		require.NoError(t, db.Migrate(ctx, app.Migrations()), "migrating again is a no-op")
		require.NoError(t, app.NewOrders(db, nil).Place(ctx, "o-m", pg.Won(1000), "", 0))
		require.NoError(t, db.Migrate(ctx, app.Migrations()))
		again, againSum := read()
		assert.Equal(t, name, again)
		assert.Equal(t, sum, againSum)
		_, err := app.NewOrders(db, nil).Get(ctx, "o-m")
		assert.NoError(t, err, "the shop's rows survive")
	}, app.Migrations())
}
