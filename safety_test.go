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
