package paygate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

// Invariant 3 against the PG's own books: after sales, an order's refund,
// a partial cancel and a decline, the ledger's day equals Toss's
// transaction records for the day; a missing ledger entry shows.
func TestReconcile_LedgerEqualsTheTossTransactionReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newTossPay(t))
		ctx := context.Background()
		f.shop.permanent["order-rec-refunded"] = true
		kept, err := f.p.Approve(ctx, f.checkout("order-rec-kept", 20000, pgtest.FaultNone))
		require.NoError(t, err)
		refunded, err := f.p.Approve(ctx, f.checkout("order-rec-refunded", 7000, pgtest.FaultNone))
		require.NoError(t, err)
		declined, err := f.p.Approve(ctx, f.checkout("order-rec-declined", 3000, pgtest.FaultDecline))
		require.NoError(t, err)
		f.settled(kept.PaymentID)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: kept.PaymentID, Amount: pg.Won(5000), Reason: "partial", IdempotencyKey: "r1"})
		require.NoError(t, err)
		for _, id := range []string{kept.PaymentID, refunded.PaymentID, declined.PaymentID} {
			f.settled(id)
		}

		reporter := f.pg.gateway.(pg.TransactionReporter)
		ledger := settlement.NewLedger(settlementstore.New(db))
		now := time.Now()
		days, err := ledger.Reconcile(ctx, f.pg.name, reporter, now.Add(-24*time.Hour), now.Add(24*time.Hour))
		require.NoError(t, err)
		require.NotEmpty(t, days)
		var sales, refunds int64
		for _, d := range days {
			assert.True(t, d.Matches(), "%+v", d)
			sales += d.PGSales
			refunds += d.PGRefunds
		}
		assert.Equal(t, int64(27000), sales, "two approvals at the PG")
		assert.Equal(t, int64(12000), refunds, "the order's refund and the partial cancel")

		// A sale the ledger lost is a difference.
		_, err = db.SQL().ExecContext(ctx, `DELETE FROM settlement_entries WHERE payment_id = ? AND entry_type = 'SALE'`, kept.PaymentID)
		require.NoError(t, err)
		days, err = ledger.Reconcile(ctx, f.pg.name, reporter, now.Add(-24*time.Hour), now.Add(24*time.Hour))
		require.NoError(t, err)
		mismatched := 0
		for _, d := range days {
			if !d.Matches() {
				mismatched++
			}
		}
		assert.Equal(t, 1, mismatched)
	})
}
