package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestPayment_RoundTrip_KeepsEveryFieldExactly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		approvedAt := time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.FixedZone("KST", 9*3600))
		p := &store.Payment{
			ID:             store.NewPaymentID(),
			PG:             "tosspay",
			PaymentKey:     "tgen_20260301093015abcd",
			OrderID:        "order-한글-1",
			Amount:         pg.MustMoney("1234567.89", pg.USD),
			Status:         pg.StatusPartialCanceled,
			ApprovedAmount: pg.MustMoney("1234567.89", pg.USD),
			CanceledAmount: pg.MustMoney("0.01", pg.USD),
			Method:         "CARD",
			FailureCode:    "",
			PGData:         json.RawMessage(`{"card":{"number":"4330****"},"totalAmount":1234567.89}`),
			ApprovedAt:     approvedAt,
		}
		insertPayment(t, db, p)
		assert.EqualValues(t, 1, p.Version)
		assert.False(t, p.CreatedAt.IsZero())

		got, err := db.PaymentByID(ctx, p.ID)
		require.NoError(t, err)
		assert.True(t, got.Amount.Equal(p.Amount), "amount %s", got.Amount)
		assert.True(t, got.ApprovedAmount.Equal(p.ApprovedAmount))
		assert.True(t, got.CanceledAmount.Equal(p.CanceledAmount), "canceled %s", got.CanceledAmount)
		assert.Equal(t, p.PaymentKey, got.PaymentKey)
		assert.Equal(t, p.OrderID, got.OrderID)
		assert.Equal(t, p.Status, got.Status)
		assert.Equal(t, "CARD", got.Method)
		assert.JSONEq(t, string(p.PGData), string(got.PGData))
		assert.Equal(t, time.UTC, got.ApprovedAt.Location())
		assert.True(t, got.ApprovedAt.Equal(approvedAt.Truncate(time.Microsecond)), "approved at %s", got.ApprovedAt)
		assert.True(t, got.CanceledAt.IsZero())
		assert.True(t, got.CreatedAt.Equal(p.CreatedAt))
		assert.EqualValues(t, 1, got.Version)
	})
}

func TestPayment_StoredAsMinorUnits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		krw := newPayment(orderID(t))
		usd := newPayment(orderID(t) + "-usd")
		usd.Amount = pg.MustMoney("10.25", pg.USD)
		insertPayment(t, db, krw)
		insertPayment(t, db, usd)
		assert.Equal(t, 15000, count(t, db, "SELECT amount FROM payments WHERE id = ?", krw.ID))
		assert.Equal(t, 1025, count(t, db, "SELECT amount FROM payments WHERE id = ?", usd.ID))
		assert.Equal(t, 16025, count(t, db, "SELECT SUM(amount) FROM payments"), "SUM stays exact integer arithmetic")
	})
}

func TestInsertPayment_BadInput_ClearErrorNothingStored(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(p *store.Payment)
		wantErr string
	}{
		{"no id", func(p *store.Payment) { p.ID = "" }, "payment id is empty"},
		{"no pg", func(p *store.Payment) { p.PG = "" }, "pg is empty"},
		{"no order", func(p *store.Payment) { p.OrderID = "" }, "order id is empty"},
		{"order id too long", func(p *store.Payment) { p.OrderID = strings.Repeat("o", 65) }, "order id is 65 characters, at most 64"},
		{"unknown status", func(p *store.Payment) { p.Status = "DONE" }, `unknown payment status "DONE"`},
		{"pending is never stored", func(p *store.Payment) { p.Status = pg.StatusPending }, "unknown payment status"},
		{"no amount", func(p *store.Payment) { p.Amount = pg.Money{} }, "amount not set"},
		{"approved in another currency", func(p *store.Payment) { p.ApprovedAmount = pg.MustMoney("1", pg.USD) }, "approved amount is in USD, the payment in KRW"},
		{"canceled above approved", func(p *store.Payment) {
			p.ApprovedAmount = pg.Won(100)
			p.CanceledAmount = pg.Won(101)
		}, "canceled amount 101 KRW exceeds approved amount 100 KRW"},
		{"pg data not json", func(p *store.Payment) { p.PGData = json.RawMessage(`{"a":`) }, "pg data is not valid JSON"},
		{"invalid utf-8", func(p *store.Payment) { p.FailureMessage = "\xff\xfe" }, "failure message is not valid UTF-8"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := newPayment(orderID(t))
				tc.mutate(p)
				err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) })
				require.ErrorIs(t, err, store.ErrInvalid)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), "store: insert payment")
			})
		}
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payments"))
	})
}

func TestInsertPayment_SameIDOrSamePGKey_Duplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		first := newPayment(orderID(t))
		first.PaymentKey = "key-1"
		insertPayment(t, db, first)

		sameID := newPayment(orderID(t))
		sameID.ID = first.ID
		sameKey := newPayment(orderID(t))
		sameKey.PaymentKey = "key-1"
		for _, p := range []*store.Payment{sameID, sameKey} {
			err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) })
			require.ErrorIs(t, err, store.ErrDuplicate)
			assert.True(t, store.IsUniqueViolation(err))
		}

		// The same key at another PG, and any number of payments without a
		// key yet, are fine.
		otherPG := newPayment(orderID(t))
		otherPG.PG, otherPG.PaymentKey = "kakaopay", "key-1"
		insertPayment(t, db, otherPG)
		insertPayment(t, db, newPayment(orderID(t)))
		insertPayment(t, db, newPayment(orderID(t)))
		assert.Equal(t, 4, count(t, db, "SELECT COUNT(*) FROM payments"))
	})
}

func TestUpdatePayment_CompareAndSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		stale := *p

		p.Status = pg.StatusApproved
		p.PaymentKey = "pk-1"
		p.ApprovedAmount = p.Amount
		p.ApprovedAt = time.Now()
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, p, 1) })
		assert.EqualValues(t, 2, p.Version)

		// A writer holding the version-1 copy is refused and changes nothing.
		stale.Status = pg.StatusFailed
		stale.FailureCode = "LATE"
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, &stale, stale.Version) })
		require.ErrorIs(t, err, store.ErrConflict)
		assert.Contains(t, err.Error(), "version is 2, expected 1")

		got, err := db.PaymentByKey(ctx, "tosspay", "pk-1")
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, got.Status)
		assert.Empty(t, got.FailureCode)
		assert.EqualValues(t, 2, got.Version)
		assert.True(t, got.ApprovedAmount.Equal(pg.Won(15000)))

		// Immutable fields are not written even if the caller changed them.
		got.Amount = pg.Won(1)
		got.OrderID = "other"
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, got, 2) })
		again, err := db.PaymentByID(ctx, p.ID)
		require.NoError(t, err)
		assert.True(t, again.Amount.Equal(pg.Won(15000)))
		assert.Equal(t, p.OrderID, again.OrderID)
		assert.EqualValues(t, 3, again.Version)

		missing := newPayment(orderID(t))
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, missing, 1) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestUpdatePayment_ConcurrentWritersOfOneVersion_ExactlyOneWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		const writers = 20
		var wg sync.WaitGroup
		results := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				mine := *p
				mine.Status = pg.StatusFailed
				mine.FailureCode = "W" + string(rune('A'+i))
				results <- db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
					return db.UpdatePayment(ctx, tx, &mine, 1)
				})
			})
		}
		wg.Wait()
		close(results)
		wins, conflicts := 0, 0
		for err := range results {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		assert.Equal(t, 1, wins)
		assert.Equal(t, writers-1, conflicts)
		assert.Equal(t, 2, count(t, db, "SELECT version FROM payments WHERE id = ?", p.ID))
	})
}

func TestUpdatePayment_PaymentKeyTakenByAnother_Duplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		a, b := newPayment(orderID(t)), newPayment(orderID(t)+"b")
		a.PaymentKey = "pk-a"
		insertPayment(t, db, a)
		insertPayment(t, db, b)
		b.PaymentKey = "pk-a"
		err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, b, 1) })
		require.ErrorIs(t, err, store.ErrDuplicate)
	})
}

func TestPaymentReads_NotFoundAndByOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		_, err := db.PaymentByID(ctx, "pay_missing")
		require.ErrorIs(t, err, store.ErrNotFound)
		assert.Contains(t, err.Error(), `store: payment "pay_missing"`)
		_, err = db.PaymentByKey(ctx, "tosspay", "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = db.PaymentByKey(ctx, "tosspay", "")
		require.ErrorIs(t, err, store.ErrInvalid)

		order := orderID(t)
		first, second := newPayment(order), newPayment(order)
		first.CreatedAt = time.Now().Add(-time.Minute)
		insertPayment(t, db, second)
		insertPayment(t, db, first)
		ps, err := db.PaymentsByOrder(ctx, order)
		require.NoError(t, err)
		require.Len(t, ps, 2)
		assert.Equal(t, []string{first.ID, second.ID}, []string{ps[0].ID, ps[1].ID}, "oldest first")
		ps, err = db.PaymentsByOrder(ctx, "no-such-order")
		require.NoError(t, err)
		assert.Empty(t, ps)
	})
}

func TestPaymentsByStatus_OlderThan_OldestFirst(t *testing.T) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d, store.WithClock(clock))
			ctx := ctxT(t)
			var ids []string
			for i, status := range []pg.Status{pg.StatusUnknown, pg.StatusUnknown, pg.StatusApproved, pg.StatusUnknown} {
				// Sub-second steps check that stored times compare as
				// instants, not as text of varying length.
				set(base.Add(time.Duration(i)*time.Second + time.Duration(i)*100*time.Millisecond))
				p := newPayment(orderID(t))
				p.Status = status
				insertPayment(t, db, p)
				ids = append(ids, p.ID)
			}
			set(base.Add(time.Hour))
			ps, err := db.PaymentsByStatus(ctx, pg.StatusUnknown, base.Add(3300*time.Millisecond), 10)
			require.NoError(t, err)
			got := []string{}
			for _, p := range ps {
				got = append(got, p.ID)
			}
			assert.Equal(t, []string{ids[0], ids[1]}, got, "UNKNOWN and updated before the cutoff, oldest first")

			ps, err = db.PaymentsByStatus(ctx, pg.StatusUnknown, base.Add(time.Hour), 1)
			require.NoError(t, err)
			require.Len(t, ps, 1)
			assert.Equal(t, ids[0], ps[0].ID)

			_, err = db.PaymentsByStatus(ctx, pg.StatusUnknown, base, 0)
			require.ErrorIs(t, err, store.ErrInvalid)

			// An update moves updated_at to the clock's now.
			p := ps[0]
			tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePayment(ctx, tx, p, p.Version) })
			assert.True(t, p.UpdatedAt.Equal(base.Add(time.Hour)))
		})
	}
}

func TestLockPaymentsByStatus_TwoJanitors_ClaimDisjointRows(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	ctx := ctxT(t)
	for range 6 {
		p := newPayment(orderID(t))
		p.Status = pg.StatusUnknown
		insertPayment(t, db, p)
	}
	cutoff := time.Now().Add(time.Minute)

	firstHolds := make(chan []*store.Payment)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ps, err := db.LockPaymentsByStatus(ctx, tx, pg.StatusUnknown, cutoff, 4)
			if err != nil {
				return err
			}
			firstHolds <- ps
			<-release
			return nil
		})
	}()
	first := <-firstHolds
	require.Len(t, first, 4)
	var second []*store.Payment
	tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		second, err = db.LockPaymentsByStatus(ctx, tx, pg.StatusUnknown, cutoff, 4)
		return err
	})
	close(release)
	require.NoError(t, <-done)
	require.Len(t, second, 2, "the second janitor skips the locked rows instead of waiting")
	seen := map[string]bool{}
	for _, p := range append(first, second...) {
		assert.False(t, seen[p.ID], "%s claimed twice", p.ID)
		seen[p.ID] = true
	}
}

func TestLockPayment_ReadsInsideTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		insertPayment(t, db, p)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			got, err := db.LockPayment(ctx, tx, p.ID)
			if err != nil {
				return err
			}
			got.Status = pg.StatusUnknown
			return db.UpdatePayment(ctx, tx, got, got.Version)
		})
		err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
			_, err := db.LockPayment(ctx, tx, "pay_missing")
			return err
		})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// In a context with deferred writes, UpdatePaymentDeferred writes nothing
// until Flush, which writes every deferred payment in one statement, each a
// compare-and-set on its version, with the same fields UpdatePayment
// writes. A version that moved, a payment updated twice, a payment key
// taken: Flush fails and the rolled-back transaction wrote nothing.
func TestUpdatePaymentDeferred_OneStatementAtFlush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		a, b, c := newPayment(orderID(t)), newPayment(orderID(t)), newPayment(orderID(t))
		for _, p := range []*store.Payment{a, b, c} {
			insertPayment(t, db, p)
		}
		approvedAt := time.Now().UTC().Truncate(time.Microsecond)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			a.Status, a.PaymentKey, a.ApprovedAmount, a.ApprovedAt, a.Method = pg.StatusApproved, "pk-deferred-a", a.Amount, approvedAt, "CARD"
			a.PGData = []byte(`{"tid":"a"}`)
			b.Status, b.FailureCode, b.FailureMessage = pg.StatusFailed, "DECLINED", "card declined"
			if err := db.UpdatePaymentDeferred(ctx, tx, a, 1); err != nil {
				return err
			}
			if err := db.UpdatePaymentDeferred(ctx, tx, b, 1); err != nil {
				return err
			}
			assert.EqualValues(t, 2, a.Version, "the version as it will be stored")
			got, err := db.PaymentByIDTx(ctx, tx, a.ID)
			require.NoError(t, err)
			assert.EqualValues(t, 1, got.Version, "nothing written before Flush")
			assert.Equal(t, pg.StatusApproving, got.Status)
			return d.Flush(ctx, tx)
		})
		gotA, err := db.PaymentByID(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, gotA.Status)
		assert.Equal(t, "pk-deferred-a", gotA.PaymentKey)
		assert.True(t, gotA.ApprovedAmount.Equal(a.Amount))
		assert.True(t, gotA.ApprovedAt.Equal(approvedAt), "approved at %s, want %s", gotA.ApprovedAt, approvedAt)
		assert.Equal(t, "CARD", gotA.Method)
		assert.JSONEq(t, `{"tid":"a"}`, string(gotA.PGData))
		assert.True(t, gotA.CanceledAt.IsZero())
		assert.EqualValues(t, 2, gotA.Version)
		assert.True(t, gotA.UpdatedAt.Equal(a.UpdatedAt))
		gotB, err := db.PaymentByID(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, gotB.Status)
		assert.Equal(t, "DECLINED", gotB.FailureCode)
		assert.Equal(t, "card declined", gotB.FailureMessage)
		assert.Empty(t, gotB.PaymentKey)
		assert.True(t, gotB.ApprovedAt.IsZero())
		assert.EqualValues(t, 2, gotB.Version)

		refused := func(want error, updates func(ctx context.Context, tx *sql.Tx) error) {
			t.Helper()
			err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				ctx, d := db.WithDeferred(ctx)
				if err := updates(ctx, tx); err != nil {
					return err
				}
				return d.Flush(ctx, tx)
			})
			require.ErrorIs(t, err, want)
			for _, p := range []*store.Payment{a, b, c} {
				got, err := db.PaymentByID(ctx, p.ID)
				require.NoError(t, err)
				want := int64(2)
				if p == c {
					want = 1
				}
				assert.Equal(t, want, got.Version, "the refused flush wrote nothing to %s", p.ID)
			}
		}
		stale := func(p *store.Payment, version int64) func(ctx context.Context, tx *sql.Tx) error {
			return func(ctx context.Context, tx *sql.Tx) error {
				cp := *p
				cp.FailureMessage = "late"
				return db.UpdatePaymentDeferred(ctx, tx, &cp, version)
			}
		}
		// c is current; b's version moved on since version 1.
		refused(store.ErrConflict, func(ctx context.Context, tx *sql.Tx) error {
			if err := stale(c, 1)(ctx, tx); err != nil {
				return err
			}
			return stale(b, 1)(ctx, tx)
		})
		refused(store.ErrConflict, func(ctx context.Context, tx *sql.Tx) error {
			if err := stale(c, 1)(ctx, tx); err != nil {
				return err
			}
			return stale(c, 1)(ctx, tx)
		})
		refused(store.ErrDuplicate, func(ctx context.Context, tx *sql.Tx) error {
			cp := *c
			cp.PaymentKey = "pk-deferred-a"
			return db.UpdatePaymentDeferred(ctx, tx, &cp, 1)
		})

		// Outside a deferred context it is UpdatePayment.
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			c.Status = pg.StatusFailed
			if err := db.UpdatePaymentDeferred(ctx, tx, c, 1); err != nil {
				return err
			}
			got, err := db.PaymentByIDTx(ctx, tx, c.ID)
			require.NoError(t, err)
			assert.EqualValues(t, 2, got.Version, "written at once")
			return nil
		})
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.UpdatePaymentDeferred(ctx, tx, c, 1) })
		require.ErrorIs(t, err, store.ErrConflict)
	})
}

// A new payment, its order's claim, an event and another payment's
// compare-and-set wait for Flush together (on MySQL one request): nothing of
// them is in the transaction before it, all of it after it. A claim taken
// meanwhile fails the flush with ErrDuplicate, and a stale version behind
// other deferred writes with ErrConflict (the payments' update is the last
// statement, and its count is the one checked); either way nothing of the
// transaction remains.
func TestDeferred_NewPaymentClaimAndUpdateInOneFlush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		other := newPayment(orderID(t))
		insertPayment(t, db, other)
		pay := newPayment(orderID(t))
		claim := func(p *store.Payment, more func(ctx context.Context, tx *sql.Tx) error) error {
			return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				ctx, d := db.WithDeferred(ctx)
				if err := db.InsertPayment(ctx, tx, p); err != nil {
					return err
				}
				if err := db.ClaimOrder(ctx, tx, p.OrderID, p.ID); err != nil {
					return err
				}
				if err := db.AppendEvent(ctx, tx, newEvent(p, "PAYMENT_APPROVING")); err != nil {
					return err
				}
				if err := more(ctx, tx); err != nil {
					return err
				}
				return d.Flush(ctx, tx)
			})
		}
		absent := func(p *store.Payment) {
			t.Helper()
			_, err := db.PaymentByID(ctx, p.ID)
			require.ErrorIs(t, err, store.ErrNotFound)
			evs, err := db.EventsByPayment(ctx, p.ID)
			require.NoError(t, err)
			assert.Empty(t, evs)
		}

		// A value that reads as statements travels as data in the one
		// request.
		hostile := `x'); DELETE FROM payments; -- \'; DROP TABLE payment_events; "`
		require.NoError(t, claim(pay, func(ctx context.Context, tx *sql.Tx) error {
			other.Status, other.FailureCode, other.FailureMessage = pg.StatusFailed, "DECLINED", hostile
			if err := db.UpdatePaymentDeferred(ctx, tx, other, 1); err != nil {
				return err
			}
			_, err := db.PaymentByIDTx(ctx, tx, pay.ID)
			require.ErrorIs(t, err, store.ErrNotFound, "nothing written before Flush")
			_, err = db.OrderPaymentTx(ctx, tx, pay.OrderID)
			require.ErrorIs(t, err, store.ErrNotFound, "the claim neither")
			got, err := db.PaymentByIDTx(ctx, tx, other.ID)
			require.NoError(t, err)
			assert.EqualValues(t, 1, got.Version, "the update neither")
			return nil
		}))
		got, err := db.PaymentByID(ctx, pay.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproving, got.Status)
		assert.EqualValues(t, 1, got.Version)
		holder, err := db.OrderPayment(ctx, pay.OrderID)
		require.NoError(t, err)
		assert.Equal(t, pay.ID, holder)
		evs, err := db.EventsByPayment(ctx, pay.ID)
		require.NoError(t, err)
		assert.Len(t, evs, 1)
		got, err = db.PaymentByID(ctx, other.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, got.Status)
		assert.Equal(t, hostile, got.FailureMessage)
		assert.EqualValues(t, 2, got.Version)

		// The order is claimed: the flush stops at the claim.
		second := newPayment(pay.OrderID)
		err = claim(second, func(context.Context, *sql.Tx) error { return nil })
		require.ErrorIs(t, err, store.ErrDuplicate)
		absent(second)
		holder, err = db.OrderPayment(ctx, pay.OrderID)
		require.NoError(t, err)
		assert.Equal(t, pay.ID, holder, "the claim stays with its holder")

		// A stale version behind the other deferred writes.
		third := newPayment(orderID(t))
		err = claim(third, func(ctx context.Context, tx *sql.Tx) error {
			stale := *other
			stale.FailureMessage = "late"
			return db.UpdatePaymentDeferred(ctx, tx, &stale, 1)
		})
		require.ErrorIs(t, err, store.ErrConflict)
		absent(third)
		_, err = db.OrderPayment(ctx, third.OrderID)
		require.ErrorIs(t, err, store.ErrNotFound)
		got, err = db.PaymentByID(ctx, other.ID)
		require.NoError(t, err)
		assert.EqualValues(t, 2, got.Version)
		assert.Equal(t, hostile, got.FailureMessage)
	})
}

// TestHoldPaymentDeferred_ChecksTheVersionAndWritesNothing: a held payment
// joins the deferred updates' one statement beside a real update, is
// counted as landed and keeps its version and updated-at; held at a
// version it no longer has, the whole flush fails with ErrConflict and the
// update beside it is rolled back. Outside a deferred context it runs at
// once, with UpdatePayment's errors.
func TestHoldPaymentDeferred_ChecksTheVersionAndWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		a, b := newPayment(orderID(t)), newPayment(orderID(t))
		insertPayment(t, db, a)
		insertPayment(t, db, b)
		before, err := db.PaymentByID(ctx, b.ID)
		require.NoError(t, err)
		tx(t, db, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			a.Status, a.FailureCode = pg.StatusFailed, "DECLINED"
			if err := db.UpdatePaymentDeferred(ctx, tx, a, 1); err != nil {
				return err
			}
			if err := db.HoldPaymentDeferred(ctx, tx, b.ID, 1); err != nil {
				return err
			}
			return d.Flush(ctx, tx)
		})
		gotA, err := db.PaymentByID(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, gotA.Status)
		assert.EqualValues(t, 2, gotA.Version)
		gotB, err := db.PaymentByID(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, before, gotB, "the held payment is as it was, version and updated-at included")

		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ctx, d := db.WithDeferred(ctx)
			a.Status = pg.StatusApproved
			if err := db.UpdatePaymentDeferred(ctx, tx, a, 2); err != nil {
				return err
			}
			if err := db.HoldPaymentDeferred(ctx, tx, b.ID, 2); err != nil { // b is at 1
				return err
			}
			return d.Flush(ctx, tx)
		})
		require.ErrorIs(t, err, store.ErrConflict)
		gotA, err = db.PaymentByID(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, gotA.Status, "rolled back with the held payment's conflict")

		hold := func(id string, version int64) error {
			return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.HoldPaymentDeferred(ctx, tx, id, version) })
		}
		require.NoError(t, hold(b.ID, 1))
		require.ErrorIs(t, hold(b.ID, 3), store.ErrConflict)
		require.ErrorIs(t, hold("pay_none", 1), store.ErrNotFound)
		gotB, err = db.PaymentByID(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, before, gotB)
	})
}

// TestHoldPayment_HoldsTheRowLock: on MySQL a held payment's row is locked
// until the holding transaction ends, so a change to it waits — the events
// the holder records stay ordered with the payment's writes.
func TestHoldPayment_HoldsTheRowLock(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	ctx := ctxT(t)
	p := newPayment(orderID(t))
	insertPayment(t, db, p)
	holder, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer holder.Rollback() //nolint:errcheck // ends the test's transaction
	require.NoError(t, db.HoldPaymentDeferred(ctx, holder, p.ID, 1))
	conn, err := db.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "UPDATE payments SET method = 'CARD' WHERE id = ?", p.ID)
	require.Error(t, err, "the row is locked by the holder")
	assert.Contains(t, err.Error(), "1205", "lock wait timeout")
	require.NoError(t, holder.Commit())
	_, err = conn.ExecContext(ctx, "UPDATE payments SET method = 'CARD' WHERE id = ?", p.ID)
	require.NoError(t, err)
}
