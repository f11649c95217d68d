package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func newCancel(p *store.Payment, key string, amount pg.Money) *store.Cancel {
	return &store.Cancel{
		ID: store.NewCancelID(), PaymentID: p.ID, IdempotencyKey: key,
		Amount: amount, Reason: "ORDER_FAILED", Status: store.CancelRequested,
	}
}

func TestCancel_LifecycleAndReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		first := newCancel(p, "k1", pg.Won(5000))
		second := newCancel(p, "k2", pg.Won(10000))
		second.CreatedAt = time.Now().Add(time.Second)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			if err := db.InsertCancel(ctx, tx, first); err != nil {
				return err
			}
			return db.InsertCancel(ctx, tx, second)
		})
		assert.EqualValues(t, 1, first.Version)

		first.Status = store.CancelDone
		first.PGTransactionKey = "tx-123"
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCancel(ctx, tx, first, 1) })
		assert.EqualValues(t, 2, first.Version)

		stale := *first
		stale.Version = 1
		stale.Status = store.CancelFailed
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCancel(ctx, tx, &stale, 1) })
		require.ErrorIs(t, err, store.ErrConflict)

		got, err := db.CancelByIdempotencyKey(ctx, "k1")
		require.NoError(t, err)
		assert.Equal(t, store.CancelDone, got.Status)
		assert.Equal(t, "tx-123", got.PGTransactionKey)
		assert.True(t, got.Amount.Equal(pg.Won(5000)))
		assert.Equal(t, "ORDER_FAILED", got.Reason)

		byID, err := db.CancelByID(ctx, second.ID)
		require.NoError(t, err)
		assert.Equal(t, "k2", byID.IdempotencyKey)

		cs, err := db.CancelsByPayment(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, cs, 2)
		assert.Equal(t, first.ID, cs[0].ID)

		requested, err := db.CancelsByStatus(ctx, store.CancelRequested, time.Now().Add(time.Hour), 10)
		require.NoError(t, err)
		require.Len(t, requested, 1)
		assert.Equal(t, second.ID, requested[0].ID)

		_, err = db.CancelByID(ctx, "cnl_missing")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = db.CancelByIdempotencyKey(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		missing := newCancel(p, "k9", pg.Won(1))
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdateCancel(ctx, tx, missing, 1) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestInsertCancel_BadInput_ClearError(t *testing.T) {
	p := newPayment("o")
	tests := []struct {
		name    string
		mutate  func(c *store.Cancel)
		wantErr string
	}{
		{"no key", func(c *store.Cancel) { c.IdempotencyKey = "" }, "idempotency key is empty"},
		{"no payment", func(c *store.Cancel) { c.PaymentID = "" }, "payment id is empty"},
		{"zero amount", func(c *store.Cancel) { c.Amount = pg.Won(0) }, "cancel amount must be positive"},
		{"unset amount", func(c *store.Cancel) { c.Amount = pg.Money{} }, "amount not set"},
		{"unknown status", func(c *store.Cancel) { c.Status = "SENT" }, `unknown cancel status "SENT"`},
	}
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCancel(p, "k", pg.Won(100))
			tc.mutate(c)
			err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.InsertCancel(ctx, tx, c) })
			require.ErrorIs(t, err, store.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
