package paygate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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

// ledgerFault is a way the settlement subscriber's transaction dies around
// its ledger write.
type ledgerFault string

const (
	failBefore    ledgerFault = "error before the write"
	panicBefore   ledgerFault = "panic before the write"
	killBefore    ledgerFault = "transaction rolled back under the write"
	failAfter     ledgerFault = "error after the write"
	panicAfter    ledgerFault = "panic after the write"
	killAfter     ledgerFault = "transaction rolled back after the write succeeded"
	dropConn      ledgerFault = "connection killed after the write (MySQL)"
	refuseForGood ledgerFault = "permanent refusal"
)

// faultyLedger is the ledger's store with one fault planned per source key:
// the first call for the key meets it, later calls go through.
type faultyLedger struct {
	settlement.Store
	db *store.DB

	mu    sync.Mutex
	plan  map[string]ledgerFault // by entry type and order: "SALE/order-1"
	fired map[string]bool
	hits  map[string]int // "SALE/fault" → count
}

func (f *faultyLedger) InsertTx(ctx context.Context, tx *sql.Tx, r *settlement.Record) (bool, error) {
	f.mu.Lock()
	fault := ledgerFault("")
	if !f.fired[r.SourceKey] {
		f.fired[r.SourceKey] = true
		fault = f.plan[string(r.Type)+"/"+r.OrderID]
		if fault != "" {
			f.hits[string(r.Type)+"/"+string(fault)]++
		}
	}
	f.mu.Unlock()
	switch fault {
	case failBefore:
		return false, errors.New("ledger: disk full")
	case panicBefore:
		panic("ledger: nil map")
	case refuseForGood:
		return false, outbox.Permanent(errors.New("ledger: refused for good"))
	case killBefore:
		_ = tx.Rollback()
	}
	ok, err := f.Store.InsertTx(ctx, tx, r)
	if err != nil {
		return ok, err
	}
	switch fault {
	case failAfter:
		return false, errors.New("ledger: lost the answer")
	case panicAfter:
		panic("ledger: after the insert")
	case killAfter:
		_ = tx.Rollback()
	case dropConn:
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return false, err
		}
		if _, err := f.db.SQL().ExecContext(context.Background(), fmt.Sprintf("KILL %d", id)); err != nil {
			return false, err
		}
	}
	return ok, nil
}

func (f *faultyLedger) hit(typ settlement.EntryType, fault ledgerFault) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[string(typ)+"/"+string(fault)]
}

// No settlement row goes missing (faults F17): the settlement subscriber's
// transaction dies before, inside and after each sale's and each refund's
// ledger write — an error, a panic, the transaction rolled back under it,
// on MySQL its connection killed — and every sale and refund still ends
// with exactly one entry and one SETTLEMENT_RECORDED event, retried by the
// delivery queue without touching the payment. A write refused for good
// parks the delivery as dead: Unresolved lists it with its error, and once
// redelivered the entry is recorded once.
func TestSettlement_SubscriberKilledAtEveryPoint_ExactlyOneEntryEach(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		faults := []ledgerFault{failBefore, panicBefore, killBefore, failAfter, panicAfter, killAfter}
		if db.Dialect() == store.MySQL {
			faults = append(faults, dropConn)
		}
		ledger := &faultyLedger{Store: settlementstore.New(db), db: db, plan: map[string]ledgerFault{},
			fired: map[string]bool{}, hits: map[string]int{}}
		order := func(i int) string { return fmt.Sprintf("order-ledger-fault-%d", i) }
		for i, fault := range faults {
			ledger.plan["SALE/"+order(i)] = fault
			ledger.plan["REFUND/"+order(i)] = faults[(i+1)%len(faults)]
		}
		dead := "order-ledger-dead"
		ledger.plan["SALE/"+dead] = refuseForGood
		f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) { c.Ledger = ledger })
		ctx := context.Background()

		var ids []string
		for i := range faults {
			res, err := f.p.Approve(ctx, f.checkout(order(i), int64(10_000+1_000*i), pgtest.FaultNone))
			require.NoError(t, err)
			require.Equal(t, pg.StatusApproved, res.Status)
			ids = append(ids, res.PaymentID)
		}
		for i, id := range ids {
			f.settled(id)
			_, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: id, Amount: pg.Won(1_000), Reason: "one item", IdempotencyKey: fmt.Sprintf("ledger-fault-%d", i)})
			require.NoError(t, err)
		}
		for _, id := range ids {
			f.settled(id)
		}
		for _, fault := range faults {
			assert.Equal(t, 1, ledger.hit(settlement.EntrySale, fault), "a sale met %q", fault)
			assert.Equal(t, 1, ledger.hit(settlement.EntryRefund, fault), "a refund met %q", fault)
		}
		l := settlement.NewLedger(settlementstore.New(db))
		for i, id := range ids {
			recs, err := l.ByPayment(ctx, id)
			require.NoError(t, err)
			sources := map[string]int{}
			for _, r := range recs {
				sources[string(r.Type)]++
			}
			assert.Equal(t, map[string]int{"SALE": 1, "REFUND": 1}, sources, "payment %d: one sale, one refund", i)
			recorded := 0
			for _, typ := range f.eventTypes(id) {
				if typ == paygate.EventSettlementRecorded {
					recorded++
				}
			}
			assert.Equal(t, 2, recorded, "one SETTLEMENT_RECORDED per entry")
			v := f.payment(id)
			assert.Equal(t, pg.StatusPartialCanceled, v.Status, "the payment is untouched by the ledger's trouble")
			f.checkInvariants(order(i))
		}

		// Refused for good: the delivery dies, visibly, and is recorded
		// once after an operator redelivers it.
		res, err := f.p.Approve(ctx, f.checkout(dead, 9_000, pgtest.FaultNone))
		require.NoError(t, err)
		var item paygate.Attention
		f.eventually("the dead delivery in the operators' queue", func() bool {
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
		assert.Contains(t, item.Reason, "ledger: refused for good")
		recs, err := l.ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Empty(t, recs)
		deadOnes, err := f.p.Outbox().Deliveries(ctx, outbox.DeliveryFilter{Status: outbox.DeliveryDead, Limit: 10})
		require.NoError(t, err)
		require.Len(t, deadOnes, 1)
		require.NoError(t, f.p.Outbox().Redeliver(ctx, deadOnes[0].ID))
		f.eventually("the redelivered sale in the ledger", func() bool {
			recs, err := l.ByPayment(ctx, res.PaymentID)
			require.NoError(t, err)
			return len(recs) == 1
		})
		f.settled(res.PaymentID)
		recs, err = l.ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Len(t, recs, 1, "recorded once")
		list, err := f.p.Unresolved(ctx, 0, 100)
		require.NoError(t, err)
		assert.Empty(t, list, "nothing left in the queue")
	})
}
