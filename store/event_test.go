package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestEvents_AppendTraceAndDuplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		order := orderID(t)
		first, retry := newPayment(order), newPayment(order)
		t0 := time.Now().UTC()
		events := []*store.Event{
			newEvent(first, "PAYMENT_FAILED"),
			newEvent(retry, "PAYMENT_APPROVED"),
			newEvent(retry, "ORDER_CREATED"),
		}
		for i, e := range events {
			e.OccurredAt = t0.Add(time.Duration(i) * time.Millisecond)
		}
		// Appended out of order: reads order by occurrence.
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			for _, i := range []int{2, 0, 1} {
				if err := db.AppendEvent(ctx, tx, events[i]); err != nil {
					return err
				}
			}
			return nil
		})

		got, err := db.EventsByPayment(ctx, retry.ID)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "PAYMENT_APPROVED", got[0].Type)
		assert.Equal(t, "ORDER_CREATED", got[1].Type)
		assert.JSONEq(t, string(events[1].Payload), string(got[0].Payload))
		assert.True(t, got[0].OccurredAt.Equal(events[1].OccurredAt.Truncate(time.Microsecond)))

		all, err := db.EventsByOrder(ctx, order)
		require.NoError(t, err)
		require.Len(t, all, 3)
		assert.Equal(t, []string{"PAYMENT_FAILED", "PAYMENT_APPROVED", "ORDER_CREATED"},
			[]string{all[0].Type, all[1].Type, all[2].Type})

		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.AppendEvent(ctx, tx, events[0]) })
		require.ErrorIs(t, err, store.ErrDuplicate)

		none, err := db.EventsByPayment(ctx, "pay_none")
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestAppendEvent_BadInput_ClearError(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	p := newPayment("o")
	tests := []struct {
		name    string
		mutate  func(e *store.Event)
		wantErr string
	}{
		{"no id", func(e *store.Event) { e.ID = "" }, "event id is empty"},
		{"no type", func(e *store.Event) { e.Type = "" }, "event type is empty"},
		{"no payload", func(e *store.Event) { e.Payload = nil }, "payload is empty"},
		{"payload not json", func(e *store.Event) { e.Payload = json.RawMessage("{") }, "payload is not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvent(p, "PAYMENT_APPROVED")
			tc.mutate(e)
			err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.AppendEvent(ctx, tx, e) })
			require.ErrorIs(t, err, store.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payment_events"))
}

func TestNewIDs_PrefixedAndTimeSortable(t *testing.T) {
	t.Parallel()
	prev := store.NewPaymentID()
	for range 1000 {
		next := store.NewPaymentID()
		require.Less(t, prev, next)
		prev = next
	}
	assert.Regexp(t, `^pay_[0-9a-f-]{36}$`, prev)
	assert.Regexp(t, `^evt_[0-9a-f-]{36}$`, store.NewEventID())
	assert.Regexp(t, `^cnl_[0-9a-f-]{36}$`, store.NewCancelID())
}

// In a context with deferred inserts, appended events wait for Flush, which
// writes every deferred row of the table in one statement; an invalid event
// is refused at once, and a duplicate is refused by Flush.
func TestEvents_DeferredUntilFlush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		order := orderID(t)
		pay := newPayment(order)
		a, b, c := newEvent(pay, "PAYMENT_APPROVED"), newEvent(pay, "ORDER_CREATED"), newEvent(pay, "SETTLEMENT_RECORDED")
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			if err := db.AppendEvents(ctx, tx, a, b); err != nil {
				return err
			}
			if err := db.AppendEvent(ctx, tx, c); err != nil {
				return err
			}
			bad := newEvent(pay, "X")
			bad.ID = ""
			require.ErrorIs(t, db.AppendEvent(ctx, tx, bad), store.ErrInvalid, "refused before anything is deferred")
			got, err := db.EventsByPaymentTx(ctx, tx, pay.ID)
			require.NoError(t, err)
			assert.Empty(t, got, "nothing written before Flush")
			return d.Flush(ctx, tx)
		})
		got, err := db.EventsByPayment(ctx, pay.ID)
		require.NoError(t, err)
		assert.Len(t, got, 3)

		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			if err := db.AppendEvent(ctx, tx, newEvent(pay, "REFUND_REQUESTED")); err != nil {
				return err
			}
			if err := db.AppendEvent(ctx, tx, a); err != nil {
				return err
			}
			return d.Flush(ctx, tx)
		})
		require.ErrorIs(t, err, store.ErrDuplicate)
		got, err = db.EventsByPayment(ctx, pay.ID)
		require.NoError(t, err)
		assert.Len(t, got, 3, "the flush that failed wrote nothing")
	})
}
