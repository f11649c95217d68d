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

// TestReads_TxFormSeesTheTransactionPlainFormThePool: every read has a plain
// form on the pool and a ...Tx form bound to the transaction it is given.
// Inside an open transaction the Tx form finds what the transaction wrote,
// the plain form does not (nothing is committed yet); after the commit both
// find it.
func TestReads_TxFormSeesTheTransactionPlainFormThePool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		order := orderID(t)
		p := newPayment(order)
		p.PaymentKey, p.Status = "pk-"+order, pg.StatusUnknown
		c := newCancel(p, "key-"+order, pg.Won(1000))
		c.Status = store.CancelUnknown
		ev := newEvent(p, "PAYMENT_UNKNOWN")
		co := &store.Checkout{OrderID: order, PG: "tosspay", Amount: pg.Won(15000), OrderName: "shirt", ExpiresAt: time.Now().Add(time.Hour)}
		later := time.Now().Add(time.Hour)

		// reads is one form of every read.
		type reads struct {
			paymentByID   func(ctx context.Context, id string) (*store.Payment, error)
			paymentByKey  func(ctx context.Context, pgName, key string) (*store.Payment, error)
			byOrder       func(ctx context.Context, orderID string) ([]*store.Payment, error)
			byStatus      func(ctx context.Context, s pg.Status, olderThan time.Time, limit int) ([]*store.Payment, error)
			orderPayment  func(ctx context.Context, orderID string) (string, error)
			cancelByID    func(ctx context.Context, id string) (*store.Cancel, error)
			cancelByKey   func(ctx context.Context, key string) (*store.Cancel, error)
			cancels       func(ctx context.Context, paymentID string) ([]*store.Cancel, error)
			cancelsStatus func(ctx context.Context, s store.CancelStatus, olderThan time.Time, limit int) ([]*store.Cancel, error)
			checkout      func(ctx context.Context, orderID string) (*store.Checkout, error)
			events        func(ctx context.Context, paymentID string) ([]*store.Event, error)
			orderEvents   func(ctx context.Context, orderID string) ([]*store.Event, error)
			syncOf        func(ctx context.Context, paymentID string) (*store.PaymentSync, error)
		}
		plain := reads{db.PaymentByID, db.PaymentByKey, db.PaymentsByOrder, db.PaymentsByStatus, db.OrderPayment,
			db.CancelByID, db.CancelByIdempotencyKey, db.CancelsByPayment, db.CancelsByStatus, db.CheckoutByOrder,
			db.EventsByPayment, db.EventsByOrder, db.SyncOf}
		inTx := func(tx *sql.Tx) reads {
			return reads{
				func(ctx context.Context, id string) (*store.Payment, error) { return db.PaymentByIDTx(ctx, tx, id) },
				func(ctx context.Context, pgName, key string) (*store.Payment, error) {
					return db.PaymentByKeyTx(ctx, tx, pgName, key)
				},
				func(ctx context.Context, o string) ([]*store.Payment, error) { return db.PaymentsByOrderTx(ctx, tx, o) },
				func(ctx context.Context, s pg.Status, at time.Time, n int) ([]*store.Payment, error) {
					return db.PaymentsByStatusTx(ctx, tx, s, at, n)
				},
				func(ctx context.Context, o string) (string, error) { return db.OrderPaymentTx(ctx, tx, o) },
				func(ctx context.Context, id string) (*store.Cancel, error) { return db.CancelByIDTx(ctx, tx, id) },
				func(ctx context.Context, k string) (*store.Cancel, error) {
					return db.CancelByIdempotencyKeyTx(ctx, tx, k)
				},
				func(ctx context.Context, id string) ([]*store.Cancel, error) {
					return db.CancelsByPaymentTx(ctx, tx, id)
				},
				func(ctx context.Context, s store.CancelStatus, at time.Time, n int) ([]*store.Cancel, error) {
					return db.CancelsByStatusTx(ctx, tx, s, at, n)
				},
				func(ctx context.Context, o string) (*store.Checkout, error) { return db.CheckoutByOrderTx(ctx, tx, o) },
				func(ctx context.Context, id string) ([]*store.Event, error) { return db.EventsByPaymentTx(ctx, tx, id) },
				func(ctx context.Context, o string) ([]*store.Event, error) { return db.EventsByOrderTx(ctx, tx, o) },
				func(ctx context.Context, id string) (*store.PaymentSync, error) { return db.SyncOfTx(ctx, tx, id) },
			}
		}
		// found runs every read of r and reports, per read, whether it
		// found the rows the transaction below writes.
		found := func(ctx context.Context, r reads) map[string]bool {
			one := func(err error) bool {
				if err != nil {
					require.ErrorIs(t, err, store.ErrNotFound)
					return false
				}
				return true
			}
			out := map[string]bool{}
			_, err := r.paymentByID(ctx, p.ID)
			out["PaymentByID"] = one(err)
			_, err = r.paymentByKey(ctx, p.PG, p.PaymentKey)
			out["PaymentByKey"] = one(err)
			ps, err := r.byOrder(ctx, order)
			require.NoError(t, err)
			out["PaymentsByOrder"] = len(ps) == 1
			ps, err = r.byStatus(ctx, pg.StatusUnknown, later, 1000)
			require.NoError(t, err)
			out["PaymentsByStatus"] = false
			for _, q := range ps {
				out["PaymentsByStatus"] = out["PaymentsByStatus"] || q.ID == p.ID
			}
			_, err = r.orderPayment(ctx, order)
			out["OrderPayment"] = one(err)
			_, err = r.cancelByID(ctx, c.ID)
			out["CancelByID"] = one(err)
			_, err = r.cancelByKey(ctx, c.IdempotencyKey)
			out["CancelByIdempotencyKey"] = one(err)
			cs, err := r.cancels(ctx, p.ID)
			require.NoError(t, err)
			out["CancelsByPayment"] = len(cs) == 1
			cs, err = r.cancelsStatus(ctx, store.CancelUnknown, later, 1000)
			require.NoError(t, err)
			out["CancelsByStatus"] = false
			for _, q := range cs {
				out["CancelsByStatus"] = out["CancelsByStatus"] || q.ID == c.ID
			}
			_, err = r.checkout(ctx, order)
			out["CheckoutByOrder"] = one(err)
			es, err := r.events(ctx, p.ID)
			require.NoError(t, err)
			out["EventsByPayment"] = len(es) == 1
			es, err = r.orderEvents(ctx, order)
			require.NoError(t, err)
			out["EventsByOrder"] = len(es) == 1
			_, err = r.syncOf(ctx, p.ID)
			out["SyncOf"] = one(err)
			return out
		}
		all := func(v bool) map[string]bool {
			out := map[string]bool{}
			for _, n := range []string{"PaymentByID", "PaymentByKey", "PaymentsByOrder", "PaymentsByStatus", "OrderPayment",
				"CancelByID", "CancelByIdempotencyKey", "CancelsByPayment", "CancelsByStatus", "CheckoutByOrder",
				"EventsByPayment", "EventsByOrder", "SyncOf"} {
				out[n] = v
			}
			return out
		}

		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			require.NoError(t, db.InsertCheckout(ctx, tx, co))
			require.NoError(t, db.InsertPayment(ctx, tx, p))
			require.NoError(t, db.ClaimOrder(ctx, tx, order, p.ID))
			require.NoError(t, db.InsertCancel(ctx, tx, c))
			require.NoError(t, db.AppendEvent(ctx, tx, ev))
			require.NoError(t, db.ScheduleSync(ctx, tx, p.ID, later))
			assert.Equal(t, all(true), found(ctx, inTx(tx)), "the Tx forms see the transaction's writes")
			assert.Equal(t, all(false), found(ctx, plain), "the plain forms read the pool: nothing committed yet")
			return nil
		})
		assert.Equal(t, all(true), found(ctxT(t), plain), "committed")
	})
}
