package paygate_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

// hookedFees is the tests' fee policy with a hook run before the fee of a
// sale of a given gross (in won) is computed; an error from the hook is the
// fee's.
type hookedFees struct {
	mu    sync.Mutex
	hooks map[int64]func() error
	calls map[int64]int
}

func newHookedFees() *hookedFees {
	return &hookedFees{hooks: map[int64]func() error{}, calls: map[int64]int{}}
}

func (h *hookedFees) on(gross int64, hook func() error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks[gross] = hook
}

func (h *hookedFees) called(gross int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[gross]
}

func (h *hookedFees) Fee(pgName string, method pg.Method, gross pg.Money, refund bool) (pg.Money, error) {
	if !refund {
		h.mu.Lock()
		hook := h.hooks[gross.Int64()]
		h.calls[gross.Int64()]++
		h.mu.Unlock()
		if hook != nil {
			if err := hook(); err != nil {
				return pg.Money{}, err
			}
		}
	}
	return testFees.Fee(pgName, method, gross, refund)
}

// ledgerDeliveries are the settlement ledger's deliveries about a payment.
func ledgerDeliveries(t *testing.T, f *flow, paymentID string) []outbox.DeliveryRecord {
	t.Helper()
	all, err := f.p.Outbox().Deliveries(context.Background(), outbox.DeliveryFilter{Subscriber: "settlement-ledger", Limit: 1000})
	require.NoError(t, err)
	var out []outbox.DeliveryRecord
	for _, d := range all {
		if d.Key == paymentID {
			out = append(out, d)
		}
	}
	return out
}

func countType(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

// The sale is in the ledger when Approve returns: written by the
// approval's own transaction, with its SETTLEMENT_RECORDED event, and no
// delivery for the ledger to claim. A refund still goes through the
// ledger's subscriber.
func TestSettlement_SaleWrittenWithTheApproval(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-sale-inline", 15000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status)
		l := settlement.NewLedger(settlementstore.New(f.db))
		recs, err := l.ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		require.Len(t, recs, 1, "the sale is recorded when Approve returns")
		assert.Equal(t, settlement.EntrySale, recs[0].Type)
		assert.Equal(t, "sale:"+res.PaymentID, recs[0].SourceKey)
		assert.True(t, recs[0].Gross.Equal(pg.Won(15000)))
		assert.Equal(t, 1, countType(f.eventTypes(res.PaymentID), paygate.EventSettlementRecorded))
		assert.Empty(t, ledgerDeliveries(t, f, res.PaymentID), "no delivery for the ledger")

		f.settled(res.PaymentID)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(5000), Reason: "one item", IdempotencyKey: "sale-inline-refund"})
		require.NoError(t, err)
		f.eventually("the refund in the ledger", func() bool {
			recs, err := l.ByPayment(ctx, res.PaymentID)
			require.NoError(t, err)
			return len(recs) == 2
		})
		f.settled(res.PaymentID)
		assert.Len(t, ledgerDeliveries(t, f, res.PaymentID), 1, "the refund's delivery")
		assert.Equal(t, 2, countType(f.eventTypes(res.PaymentID), paygate.EventSettlementRecorded))
		f.checkInvariants("ord-sale-inline")
	})
}

// A sale whose entry cannot be computed (here the fee policy refuses) never
// holds the approval back: the approval is recorded without it and the
// ledger's subscriber gets the event, parks it as dead with the reason, and
// records the sale once an operator redelivers it after the mend.
func TestSettlement_SaleThatCannotBeComputed_LeftToTheSubscriber(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		fees := newHookedFees()
		var mended sync.Map
		fees.on(9100, func() error {
			if _, ok := mended.Load("yes"); ok {
				return nil
			}
			return errors.New("no fee contract for this amount")
		})
		f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) { c.Fees = fees })
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-sale-nofee", 9100, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status, "the approval is recorded all the same")

		var item paygate.Attention
		f.eventually("the sale's delivery parked as dead", func() bool {
			list, err := f.p.Unresolved(ctx, 0, 100)
			require.NoError(t, err)
			for _, a := range list {
				if a.Kind == "delivery" && a.PaymentID == res.PaymentID {
					item = a
					return true
				}
			}
			return false
		})
		assert.Contains(t, item.Reason, "no fee contract")
		l := settlement.NewLedger(settlementstore.New(db))
		recs, err := l.ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Empty(t, recs)

		mended.Store("yes", true)
		ds := ledgerDeliveries(t, f, res.PaymentID)
		require.Len(t, ds, 1)
		require.NoError(t, f.p.Outbox().Redeliver(ctx, ds[0].ID))
		f.eventually("the redelivered sale in the ledger", func() bool {
			recs, err := l.ByPayment(ctx, res.PaymentID)
			require.NoError(t, err)
			return len(recs) == 1
		})
		f.settled(res.PaymentID)
		recs, err = l.ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Len(t, recs, 1, "recorded once")
		assert.Equal(t, 1, countType(f.eventTypes(res.PaymentID), paygate.EventSettlementRecorded))
		f.checkInvariants("ord-sale-nofee")
	})
}

// A sale entry that is in the ledger before the approval's write (written
// by hand between the approval's read and its commit) fails the group's
// one insert; the approval then lands on its own, keeps the entry there
// was, and records no SETTLEMENT_RECORDED of an entry it did not write.
// MySQL only: SQLite's one writer lets nothing in between.
func TestSettlement_SaleAlreadyInTheLedger_ApprovalLandsAndKeepsIt(t *testing.T) {
	db := storetest.Open(t, store.MySQL)
	fees := newHookedFees()
	const order = "ord-sale-there"
	var handWritten atomic.Value // the entry's id, once written
	fees.on(7300, func() error {
		if handWritten.Load() != nil {
			return nil
		}
		ctx := context.Background()
		ps, err := db.PaymentsByOrder(ctx, order)
		if err != nil || len(ps) != 1 {
			return errors.Join(err, errors.New("the order's payment is not there"))
		}
		rec := &settlement.Record{SourceKey: "sale:" + ps[0].ID, PaymentID: ps[0].ID, OrderID: order, PG: ps[0].PG,
			Entry: settlement.Entry{Type: settlement.EntrySale, Gross: pg.Won(7300), Fee: pg.Won(0), VAT: pg.Won(0), Net: pg.Won(7300)}}
		return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ok, err := settlement.NewLedger(settlementstore.New(db)).Record(ctx, tx, rec)
			if err == nil && !ok {
				err = errors.New("the entry was there already")
			}
			if err == nil {
				handWritten.Store(rec.ID)
			}
			return err
		})
	})
	f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) { c.Fees = fees })
	ctx := context.Background()
	res, err := f.p.Approve(ctx, f.checkout(order, 7300, pgtest.FaultNone))
	require.NoError(t, err)
	require.Equal(t, pg.StatusApproved, res.Status)
	require.NotNil(t, handWritten.Load(), "the entry was written between the approval's read and its commit")
	assert.GreaterOrEqual(t, fees.called(7300), 2, "the approval's write ran again on its own")

	recs, err := settlement.NewLedger(settlementstore.New(db)).ByPayment(ctx, res.PaymentID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, handWritten.Load(), recs[0].ID, "the entry there was is kept")
	f.settled(res.PaymentID)
	types := f.eventTypes(res.PaymentID)
	assert.Equal(t, 1, countType(types, paygate.EventPaymentApproved))
	assert.Zero(t, countType(types, paygate.EventSettlementRecorded), "no event of an entry not written")
	assert.Empty(t, ledgerDeliveries(t, f, res.PaymentID))
}
