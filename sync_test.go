package paygate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

// consoleCancel cancels at the PG directly, as an operator in the PG's
// console would: paygate is not told. balance is the PG's balance before.
func (f *flow) consoleCancel(paymentID string, amount, balance int64, id string) {
	f.t.Helper()
	ctx := context.Background()
	pay, err := f.db.PaymentByID(ctx, paymentID)
	require.NoError(f.t, err)
	prepared := preparedOf(f.t, f, pay.OrderID)
	if prepared == nil {
		prepared = map[string]string{}
	}
	var d struct {
		Data map[string]string `json:"data"`
	}
	if len(pay.PGData) > 0 {
		require.NoError(f.t, json.Unmarshal(pay.PGData, &d))
	}
	for k, v := range d.Data {
		prepared[k] = v
	}
	_, err = f.pg.gateway.Cancel(ctx, pg.CancelRequest{
		CancelID: id, PaymentKey: pay.PaymentKey, OrderID: pay.OrderID, Amount: pg.Won(amount), Balance: pg.Won(balance),
		Reason: "returned at the counter", Method: pg.Method(pay.Method), Prepared: prepared,
	})
	require.NoError(f.t, err, "the console's cancel")
}

func (f *flow) cancelsOf(paymentID string) []*store.Cancel {
	f.t.Helper()
	cs, err := f.db.CancelsByPayment(context.Background(), paymentID)
	require.NoError(f.t, err)
	return cs
}

// A cancel made in the PG's console is picked up by SyncPayment for every
// PG (KakaoPay and Inicis never notify one): recorded once as
// CANCELED_AT_PG with the PG's transaction key, in the ledger, and a full
// refund at the PG rolls the order back.
func TestSync_ConsoleCancel_PickedUpBySyncPayment(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-console"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		f.consoleCancel(res.PaymentID, 3000, 10000, "console-1")
		v, err := f.p.SyncPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusPartialCanceled, v.Status)
		assert.True(t, v.CanceledAmount.Equal(pg.Won(3000)), "canceled %s", v.CanceledAmount)
		cs := f.cancelsOf(res.PaymentID)
		require.Len(t, cs, 1)
		assert.Equal(t, "CANCELED_AT_PG", cs[0].Reason)
		assert.Equal(t, store.CancelDone, cs[0].Status)
		assert.NotEmpty(t, cs[0].PGTransactionKey, "the PG's key for the cancel")
		assert.False(t, cs[0].CanceledAt.IsZero(), "the PG's time of the cancel")

		again, err := f.p.SyncPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.True(t, again.CanceledAmount.Equal(pg.Won(3000)), "looking again records nothing twice")
		f.settled(res.PaymentID)
		f.checkInvariants(order)
		paidBy, _, _ := f.shop.state(order)
		assert.Equal(t, res.PaymentID, paidBy, "a partial refund keeps the order")

		f.consoleCancel(res.PaymentID, 7000, 7000, "console-2")
		v, err = f.p.SyncPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Equal(t, pg.StatusCanceled, v.Status)
		assert.Len(t, f.cancelsOf(res.PaymentID), 2)
		assert.Len(t, f.events(res.PaymentID, paygate.EventPaymentCanceled), 2)
		f.settled(res.PaymentID)
		f.checkInvariants(order)
		_, _, rollbacks := f.shop.state(order)
		assert.Equal(t, 1, rollbacks, "refunded in full at the PG: the order is rolled back")

		_, err = f.p.SyncPayment(ctx, "pay_missing")
		assert.ErrorIs(t, err, paygate.ErrNotFound)
	})
}

// Our partial cancel's answer is lost and, before it is resolved, another
// cancel is made in the PG's console: the PG's total is ours plus the
// console's. Both are recorded (ours completed, the console's as
// CANCELED_AT_PG), the ledger equals the PG's, and the next cancel is not
// told a cancel is in progress.
func TestSync_PendingCancelPlusConsoleCancel_BothRecorded(t *testing.T) {
	eachPGTweaked(t, func(c *paygate.Config) {
		// The lost cancel waits for its next lookup long enough for the
		// console cancel and the sync to come first.
		c.ResolveRetry.InitialBackoff, c.ResolveRetry.MaxBackoff = time.Hour, time.Hour
	}, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-mixed"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		f.failRefund(order, pgtest.FaultTimeout)
		if f.pg.name == "tosspay" {
			// Toss's adapter resends a lost cancel once under the same
			// Idempotency-Key: lose that answer too.
			f.failRefund(order, pgtest.FaultTimeout)
		}
		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(3000), Reason: "one item returned", IdempotencyKey: "ours"})
		require.NoError(t, err)
		require.Len(t, v.Cancels, 1)
		ours := v.Cancels[0].CancelID
		assert.Equal(t, "UNKNOWN", v.Cancels[0].Status)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(1000), Reason: "another", IdempotencyKey: "blocked"})
		require.ErrorIs(t, err, paygate.ErrInProgress, "one cancel at a time")

		f.consoleCancel(res.PaymentID, 2000, 7000, "console-mixed")
		v, err = f.p.SyncPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.True(t, v.CanceledAmount.Equal(pg.Won(5000)), "canceled %s", v.CanceledAmount)
		cs := f.cancelsOf(res.PaymentID)
		require.Len(t, cs, 2)
		byID := map[string]*store.Cancel{}
		for _, c := range cs {
			byID[c.ID] = c
			assert.Equal(t, store.CancelDone, c.Status)
		}
		require.Contains(t, byID, ours)
		assert.True(t, byID[ours].Amount.Equal(pg.Won(3000)))
		for id, c := range byID {
			if id != ours {
				assert.Equal(t, "CANCELED_AT_PG", c.Reason)
				assert.True(t, c.Amount.Equal(pg.Won(2000)))
			}
		}

		// Not "in progress" any more: the rest is refunded.
		full, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "order canceled", IdempotencyKey: "rest"})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusCanceled, full.Status)
		f.settled(res.PaymentID)
		entry, _ := f.ledgerEntry(order)
		assert.Equal(t, 3, entry.Cancels)
		f.checkInvariants(order)
	})
}

// The same mixed case reaching paygate as Toss's notification (which lists
// every cancel) instead of a lookup.
func TestSync_PendingCancelPlusConsoleCancel_TossNotification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		f := newFlow(t, db, newTossPay(t), func(c *paygate.Config) {
			c.ResolveRetry.InitialBackoff, c.ResolveRetry.MaxBackoff = time.Hour, time.Hour
		})
		ctx := context.Background()
		const order = "ord-mixed-notified"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		f.failRefund(order, pgtest.FaultTimeout)
		f.failRefund(order, pgtest.FaultTimeout)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(3000), Reason: "one item returned", IdempotencyKey: "ours"})
		require.NoError(t, err)
		f.consoleCancel(res.PaymentID, 2000, 7000, "console-notified")

		pay, err := db.PaymentByID(ctx, res.PaymentID)
		require.NoError(t, err)
		news, err := f.pg.gateway.Lookup(ctx, pg.LookupRequest{PaymentKey: pay.PaymentKey, OrderID: order})
		require.NoError(t, err)
		require.Len(t, news.Cancels, 2)
		require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return f.p.ApplyWebhook(ctx, tx, pg.WebhookEvent{PG: f.pg.name, Type: pg.WebhookPaymentStatus, DedupKey: "mixed",
				PaymentKey: news.PaymentKey, OrderID: order, Status: news.Status, Amount: news.Amount, Payment: news})
		}))
		f.settled(res.PaymentID)
		v := f.payment(res.PaymentID)
		assert.True(t, v.CanceledAmount.Equal(pg.Won(5000)), "canceled %s", v.CanceledAmount)
		for _, c := range v.Cancels {
			assert.Equal(t, "DONE", c.Status)
		}
		f.checkInvariants(order)
	})
}

// An approval puts its payment on the lookup schedule in the transaction
// that records it: the schedule is there when Approve returns, about a day
// after the approval (the default Every), and no outbox delivery is written
// for it. A delivery written for the retired scheduler by an earlier
// version is still handled: its payment gets on the schedule.
func TestSync_ApprovalSchedulesItsLookupInItsOwnTransaction(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-sync-tx", 12000, pgtest.FaultNone))
		require.NoError(t, err)
		require.Equal(t, pg.StatusApproved, res.Status)
		s, err := f.db.SyncOf(ctx, res.PaymentID)
		require.NoError(t, err, "on the schedule when Approve returns")
		approved := f.payment(res.PaymentID).ApprovedAt
		assert.False(t, s.NextAt.Before(approved.Add(12*time.Hour)), "first lookup %s, approved %s", s.NextAt, approved)
		assert.True(t, s.NextAt.Before(approved.Add(36*time.Hour)), "first lookup %s, approved %s", s.NextAt, approved)
		ds, err := f.p.Outbox().Deliveries(ctx, outbox.DeliveryFilter{Subscriber: "payment-sync"})
		require.NoError(t, err)
		assert.Empty(t, ds, "no delivery for the retired scheduler")
		f.settled(res.PaymentID)

		// An approval recorded by an earlier version: its payment is not on
		// the schedule yet, and its event has a delivery for the scheduler.
		require.NoError(t, f.db.Unschedule(ctx, res.PaymentID))
		evs, err := f.db.EventsByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		var approval *store.Event
		for _, e := range evs {
			if e.Type == paygate.EventPaymentApproved {
				approval = e
			}
		}
		require.NotNil(t, approval)
		earlier := outbox.New(sagastore.New(f.db), outbox.Config{})
		require.NoError(t, earlier.Subscribe(outbox.Subscriber{
			Name: "payment-sync", Types: []string{paygate.EventPaymentApproved},
			Handle: func(context.Context, *sql.Tx, outbox.Delivery) error { return nil },
		}))
		require.NoError(t, f.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := earlier.Emit(ctx, tx, outbox.Event{
				ID: "legacy-" + approval.ID, Type: approval.Type, Key: res.PaymentID, Payload: approval.Payload, OccurredAt: approval.OccurredAt,
			})
			return err
		}))
		f.eventually("the earlier version's delivery scheduling the lookup", func() bool {
			_, err := f.db.SyncOf(ctx, res.PaymentID)
			return err == nil
		})
		f.eventually("that delivery done", func() bool {
			ds, err := f.p.Outbox().Deliveries(ctx, outbox.DeliveryFilter{Subscriber: "payment-sync", Status: outbox.DeliveryDone})
			require.NoError(t, err)
			return len(ds) == 1
		})
	})
}

// Without being asked, the periodic sync started by Run looks captured
// payments up and records a console cancel, for every PG.
func TestSync_Periodic_RecordsConsoleCancels(t *testing.T) {
	eachPGTweaked(t, func(c *paygate.Config) {
		c.Sync = paygate.SyncConfig{Every: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond, Batch: 5}
	}, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-periodic"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		f.eventually("the payment on the lookup schedule", func() bool {
			_, err := f.db.SyncOf(ctx, res.PaymentID)
			return err == nil
		})

		f.consoleCancel(res.PaymentID, 4000, 10000, "console-periodic")
		f.eventually("the console cancel recorded by the sync", func() bool {
			return f.payment(res.PaymentID).CanceledAmount.Equal(pg.Won(4000))
		})
		f.settled(res.PaymentID)
		f.checkInvariants(order)
		// The schedule is updated just after the lookup's effect commits:
		// wait for it rather than race it.
		f.eventually("the lookup recorded on the schedule", func() bool {
			s, err := f.db.SyncOf(ctx, res.PaymentID)
			return err == nil && !s.SyncedAt.IsZero()
		})
		s, err := f.db.SyncOf(ctx, res.PaymentID)
		require.NoError(t, err)
		assert.Zero(t, s.Failures)

		f.consoleCancel(res.PaymentID, 6000, 6000, "console-periodic-rest")
		f.eventually("the full refund recorded and the payment off the schedule", func() bool {
			_, err := f.db.SyncOf(ctx, res.PaymentID)
			return f.payment(res.PaymentID).Status == pg.StatusCanceled && err != nil
		})
		f.settled(res.PaymentID)
		f.checkInvariants(order)
	})
}

// Refunds are dated by the PG's cancel time: a cancel the PG applied at
// 23:59:59 KST and paygate recorded after midnight is on the PG's day in
// the ledger, whether it is our cancel's answer or a console cancel found by
// a later sync.
func TestRefund_PGCanceledAt235959KST_LedgerOnThePGsDay(t *testing.T) {
	kst := settlement.Seoul
	now := time.Now().In(kst)
	// Tomorrow, so the PG's approvals (now) come first in its books.
	day := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, kst)
	pgTime := day.Add(24*time.Hour - time.Second)    // 23:59:59 KST
	ourTime := day.Add(24*time.Hour + 5*time.Second) // 00:00:05 KST the day after
	offset := time.Until(ourTime)
	eachPGTweaked(t, func(c *paygate.Config) {
		c.Clock = offsetClock(offset)
	}, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-midnight"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		f.pg.clock.stopAt(pgTime)
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(4000), Reason: "late return", IdempotencyKey: "late"})
		require.NoError(t, err)
		f.consoleCancel(res.PaymentID, 3000, 6000, "console-midnight")
		f.pg.clock.resume()
		_, err = f.p.SyncPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		f.settled(res.PaymentID)

		records, err := settlement.NewLedger(settlementstore.New(f.db)).ByPayment(ctx, res.PaymentID)
		require.NoError(t, err)
		refunds := 0
		for _, r := range records {
			if r.Type != settlement.EntryRefund {
				continue
			}
			refunds++
			assert.Equal(t, day.Format(time.DateOnly), r.BusinessDate.In(kst).Format(time.DateOnly),
				"the refund of %s is on the PG's day, not paygate's", r.Gross)
		}
		assert.Equal(t, 2, refunds)
		for _, c := range f.cancelsOf(res.PaymentID) {
			assert.True(t, c.CanceledAt.Equal(pgTime), "cancel %s at %s", c.ID, c.CanceledAt.In(kst))
		}
		f.checkInvariants(order)

		if reporter, ok := f.pg.gateway.(pg.TransactionReporter); ok {
			days, err := settlement.NewLedger(settlementstore.New(f.db)).Reconcile(ctx, f.pg.name, reporter, now, ourTime)
			require.NoError(t, err)
			for _, d := range days {
				assert.True(t, d.Matches(), "ledger = PG on %s: %+v", d.Day, d)
			}
		}
	})
}

// offsetClock is the real time moved by d.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c)) }
