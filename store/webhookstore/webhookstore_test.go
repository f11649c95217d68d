package webhookstore_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)

func TestStore_InsertLockReplay_RoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := webhookstore.New(db)
		ev := pg.WebhookEvent{
			PG: "tosspay", Type: pg.WebhookPaymentStatus, DedupKey: "whtrans_1", PaymentKey: "tgen_1", OrderID: "o-1",
			Status: pg.StatusPartialCanceled, Amount: pg.Won(15000), OccurredAt: t0,
			Payment: &pg.Payment{PG: "tosspay", PaymentKey: "tgen_1", Status: pg.StatusPartialCanceled,
				Amount: pg.Won(15000), Balance: pg.Won(5000), ApprovedAt: t0,
				Cancels: []pg.CancelRecord{{TransactionKey: "tx1", Amount: pg.Won(10000), CanceledAt: t0}}},
		}
		d := webhook.Delivery{
			ID: "whk_1", PG: "tosspay", DedupKey: "whtrans_1", Event: ev,
			Header: http.Header{"Tosspayments-Webhook-Transmission-Id": {"whtrans_1"}},
			Body:   []byte(`{"secret":"[REDACTED]"}`), BodySHA256: strings.Repeat("b", 64),
			RemoteAddr: "203.0.113.9:41234", ReceivedAt: t0,
		}
		require.NoError(t, w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return w.InsertTx(ctx, tx, d) }))

		dup := d
		dup.ID = "whk_2"
		err := w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return w.InsertTx(ctx, tx, dup) })
		assert.ErrorIs(t, err, webhook.ErrDuplicate)
		other := dup
		other.PG = "inicis"
		require.NoError(t, w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return w.InsertTx(ctx, tx, other) }),
			"the same dedup key from another PG is another delivery")

		got, err := w.Get(ctx, "whk_1")
		require.NoError(t, err)
		assert.Equal(t, d.Header, got.Header)
		assert.Equal(t, d.Body, got.Body)
		assert.Equal(t, d.RemoteAddr, got.RemoteAddr)
		assert.True(t, got.ReceivedAt.Equal(t0))
		assert.Equal(t, pg.StatusPartialCanceled, got.Event.Status)
		assert.True(t, got.Event.Amount.Equal(pg.Won(15000)))
		require.NotNil(t, got.Event.Payment)
		assert.True(t, got.Event.Payment.Balance.Equal(pg.Won(5000)), "money survives exactly")
		require.Len(t, got.Event.Payment.Cancels, 1)
		assert.True(t, got.Event.Payment.Cancels[0].Amount.Equal(pg.Won(10000)))
		assert.True(t, got.Event.OccurredAt.Equal(t0))

		require.NoError(t, w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := w.LockTx(ctx, tx, "whk_1"); err != nil {
				return err
			}
			return w.MarkReplayedTx(ctx, tx, "whk_1", t0.Add(time.Hour))
		}))
		got, err = w.Get(ctx, "whk_1")
		require.NoError(t, err)
		assert.Equal(t, 1, got.ReplayCount)
		assert.True(t, got.ReplayedAt.Equal(t0.Add(time.Hour)))

		list, err := w.ByPayment(ctx, "tosspay", "tgen_1")
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "whk_1", list[0].ID)

		_, err = w.Get(ctx, "whk_none")
		assert.ErrorIs(t, err, webhook.ErrNotFound)
		err = w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := w.LockTx(ctx, tx, "whk_none")
			return err
		})
		assert.ErrorIs(t, err, webhook.ErrNotFound)
	})
}

// TestStore_ConcurrentInsert_WaitsForFirst: a second transaction inserting
// the same (pg, dedup_key) while the first is open is a duplicate if the
// first commits, and goes ahead if it rolls back.
func TestStore_ConcurrentInsert_WaitsForFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := webhookstore.New(db)
		for _, commit := range []bool{true, false} {
			key := "wh-commit"
			if !commit {
				key = "wh-rollback"
			}
			d := webhook.Delivery{ID: "whk_a_" + key, PG: "testpg", DedupKey: key, Header: http.Header{}, Body: []byte("{}"),
				BodySHA256: strings.Repeat("c", 64), ReceivedAt: t0}
			inserted := make(chan struct{})
			finish := make(chan struct{})
			var finishOnce sync.Once
			release := func() { finishOnce.Do(func() { close(finish) }) }
			defer release() // never leave the first transaction open on failure
			firstDone := make(chan error, 1)
			go func() {
				firstDone <- w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
					if err := w.InsertTx(ctx, tx, d); err != nil {
						return err
					}
					select {
					case <-inserted:
					default:
						close(inserted)
					}
					<-finish
					if !commit {
						return assert.AnError
					}
					return nil
				})
			}()
			<-inserted
			second := make(chan error, 1)
			go func() {
				d2 := d
				d2.ID = "whk_b_" + key
				second <- w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return w.InsertTx(ctx, tx, d2) })
			}()
			select {
			case err := <-second:
				t.Fatalf("the second insert finished while the first was open: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			release()
			firstErr := <-firstDone
			secondErr := <-second
			if commit {
				require.NoError(t, firstErr)
				assert.ErrorIs(t, secondErr, webhook.ErrDuplicate)
			} else {
				require.ErrorIs(t, firstErr, assert.AnError)
				assert.NoError(t, secondErr)
			}
		}
	})
}
