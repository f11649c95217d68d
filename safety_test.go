package paygate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// An approval that names another order's payment (its PG key, tid) is
// refused: it never answers with that payment, writes nothing, and leaves
// the order payable.
func TestApprove_AnotherOrdersPaymentKey_RefusedAndOrderStaysPayable(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		a, err := f.p.Approve(ctx, f.checkout("ord-key-a", 15000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, a.Status)
		f.settled(a.PaymentID)
		aKey := f.payment(a.PaymentID).PaymentKey
		require.NotEmpty(t, aKey, "the PG's key of A is recorded")

		b := f.checkout("ord-key-b", 9000, pgtest.FaultNone)
		forged := b
		forged.PaymentKey = aKey
		_, err = f.p.Approve(ctx, forged)
		require.ErrorIs(t, err, paygate.ErrPaymentKeyMismatch)
		require.ErrorIs(t, err, paygate.ErrConflict)

		ps, err := f.db.PaymentsByOrder(ctx, f.db.SQL(), "ord-key-b")
		require.NoError(t, err)
		assert.Empty(t, ps, "nothing was written for B")
		entry, _ := f.ledgerEntry("ord-key-b")
		assert.Zero(t, entry.Approvals, "the PG was not asked")

		paid, err := f.p.Approve(ctx, b)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, paid.Status, "B is still payable")
		assert.NotEqual(t, a.PaymentID, paid.PaymentID)
		f.settled(paid.PaymentID)
		f.checkInvariants("ord-key-a")
		f.checkInvariants("ord-key-b")
		assert.Equal(t, pg.StatusApproved, f.payment(a.PaymentID).Status, "A is untouched")
	})
}

// A cancel asked for while the order step is in flight is refused as in
// progress: a refund then could be followed by the order's creation for a
// refunded payment. Once the order exists the cancel goes through and rolls
// it back.
func TestCancel_WhileOrderBeingCreated_RefusedUntilTheOrderStepFinished(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		release := f.shop.hold("ord-cancel-race")
		res, err := f.p.Approve(ctx, f.checkout("ord-cancel-race", 12000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status)

		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "buyer changed mind", IdempotencyKey: "race-1"})
		require.ErrorIs(t, err, paygate.ErrInProgress)
		cs, err := f.db.CancelsByPayment(ctx, f.db.SQL(), res.PaymentID)
		require.NoError(t, err)
		assert.Empty(t, cs, "a refused cancel records nothing")
		entry, _ := f.ledgerEntry("ord-cancel-race")
		assert.Zero(t, entry.Cancels, "nothing was refunded at the PG")

		release()
		f.settled(res.PaymentID)
		paidBy, _, _ := f.shop.state("ord-cancel-race")
		require.Equal(t, res.PaymentID, paidBy, "the order was created")

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "buyer changed mind", IdempotencyKey: "race-2"})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusCanceled, v.Status)
		f.settled(res.PaymentID)
		f.eventually("the order to be rolled back", func() bool {
			paidBy, _, rollbacks := f.shop.state("ord-cancel-race")
			return paidBy == "" && rollbacks >= 1
		})
		f.checkInvariants("ord-cancel-race")
	})
}
