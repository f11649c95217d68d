package paygate_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
)

// attention returns the operators' queue entries of a payment.
func (f *flow) attention(paymentID string) []paygate.Attention {
	f.t.Helper()
	list, err := f.p.Unresolved(context.Background(), 0, 1000)
	require.NoError(f.t, err)
	var out []paygate.Attention
	for _, a := range list {
		if a.PaymentID == paymentID {
			out = append(out, a)
		}
	}
	return out
}

// sagaAttention waits for the payment's saga entry in the queue in state.
func (f *flow) sagaAttention(paymentID string, state saga.State) paygate.Attention {
	f.t.Helper()
	var found paygate.Attention
	f.eventually("a saga of "+paymentID+" in the queue as "+string(state), func() bool {
		for _, a := range f.attention(paymentID) {
			if a.Kind == paygate.AttentionSaga && a.State == string(state) {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// refundSaga is the saga running a cancel.
func (f *flow) refundSaga(cancelID string) *saga.Instance {
	f.t.Helper()
	in, err := f.p.Runner().GetByKey(context.Background(), "refund", cancelID)
	require.NoError(f.t, err)
	return in
}

// events returns the payment's events of one type, decoded.
func (f *flow) events(paymentID, typ string) []paygate.Event {
	f.t.Helper()
	stored, err := f.db.EventsByPayment(context.Background(), paymentID)
	require.NoError(f.t, err)
	var out []paygate.Event
	for _, e := range stored {
		if e.Type != typ {
			continue
		}
		ev, err := paygate.ParseEvent(e.Payload)
		require.NoError(f.t, err)
		out = append(out, ev)
	}
	return out
}

// resolve is an operator resolving a queue entry, once no runner holds it.
func (f *flow) resolve(kind, id, note string) {
	f.t.Helper()
	f.eventually("the operator's resolve of "+id, func() bool {
		err := f.p.ResolveAttention(context.Background(), kind, id, note)
		if errors.Is(err, paygate.ErrConflict) || errors.Is(err, paygate.ErrInProgress) {
			return false // a runner is on it right now
		}
		require.NoError(f.t, err)
		return true
	})
}

// A full refund whose order rollback fails six times in a row (the order
// service down for half a minute) is not given up after the default five
// attempts: it is retried until the order is rolled back, once, with
// alerts on the way.
func TestRefund_OrderRollbackFailsSixTimes_RetriedUntilRolledBack(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-rollback-flaky"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		alerts := f.alerts.Load()
		f.shop.setRollbackDown(order, 6)

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "customer canceled", IdempotencyKey: "full"})
		require.NoError(t, err)
		require.Equal(t, pg.StatusCanceled, v.Status)
		f.settled(res.PaymentID)

		paidBy, _, rollbacks := f.shop.state(order)
		assert.Empty(t, paidBy, "the refunded order is rolled back")
		assert.Equal(t, 1, rollbacks, "one rollback took effect")
		assert.Equal(t, 7, f.shop.rollbackAttempts(order), "six failures, then the one that worked")
		in := f.refundSaga(v.Cancels[0].CancelID)
		assert.Equal(t, saga.Completed, in.State)
		// RefundRetry.AlertAfter is 3 here: attempts 3 and 6 alerted.
		f.eventually("alerts for the failing rollback", func() bool { return f.alerts.Load()-alerts >= 2 })
		f.checkInvariants(order)
	})
}

// A rollback that keeps failing never ends the refund saga COMPENSATED with
// the order still paid: it keeps retrying, alerts, and sits in the queue
// with the reason until an operator resolves it.
func TestRefund_OrderRollbackKeepsFailing_InTheQueueAlertedUntilResolved(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-rollback-down"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		alerts := f.alerts.Load()
		f.shop.setRollbackDown(order, 1<<30)

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "customer canceled", IdempotencyKey: "full"})
		require.NoError(t, err)
		require.Equal(t, pg.StatusCanceled, v.Status)
		f.eventually("the rollback to be retried past the default's five attempts", func() bool {
			return f.shop.rollbackAttempts(order) > 2*saga.DefaultPolicy.MaxAttempts
		})

		item := f.sagaAttention(res.PaymentID, saga.Running)
		assert.Contains(t, item.Reason, "rollback_order")
		assert.Contains(t, item.Reason, "order service unavailable")
		in := f.refundSaga(v.Cancels[0].CancelID)
		assert.Equal(t, item.ID, in.ID)
		assert.Equal(t, saga.Running, in.State, "never COMPENSATED while the order is still paid")
		f.eventually("alerts for the failing rollback", func() bool { return f.alerts.Load()-alerts >= 3 })
		paidBy, _, _ := f.shop.state(order)
		assert.Equal(t, res.PaymentID, paidBy, "the order service never rolled it back")

		// The operator cancels the order by hand and resolves the entry.
		f.resolve(paygate.AttentionSaga, item.ID, "order canceled in the shop console")
		for _, a := range f.attention(res.PaymentID) {
			assert.NotEqual(t, item.ID, a.ID, "a resolved saga leaves the queue")
		}
		in = f.refundSaga(v.Cancels[0].CancelID)
		assert.Equal(t, saga.Completed, in.State)
		assert.Contains(t, in.Reason, "order canceled in the shop console")
	})
}

// The first cancel call is throttled (429: not processed, so its outcome
// is looked up), the resend is refused for good. The refund the host asked
// for is recorded as REFUND_FAILED with the PG's code and message, an alert
// fires, and the saga waits in the queue until an operator resolves it.
func TestRefund_ThrottledThenRefusedForGood_RecordedAlertedAndQueued(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-refund-refused"
		res, err := f.p.Approve(ctx, f.checkout(order, 12000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		alerts := f.alerts.Load()
		f.pg.edge.throttleCancels(1)
		f.refuseCancel(order)

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "customer canceled", IdempotencyKey: "full"})
		require.NoError(t, err, "a throttled cancel is pending, not refused")
		require.Len(t, v.Cancels, 1)

		item := f.sagaAttention(res.PaymentID, saga.NeedsAttention)
		v = f.payment(res.PaymentID)
		require.Len(t, v.Cancels, 1)
		assert.Equal(t, "FAILED", v.Cancels[0].Status)
		failed := f.events(res.PaymentID, paygate.EventRefundFailed)
		require.Len(t, failed, 1, "one REFUND_FAILED event")
		var data map[string]string
		require.NoError(t, json.Unmarshal(failed[0].Data, &data))
		assert.Equal(t, v.Cancels[0].CancelID, data["cancelId"])
		assert.NotEmpty(t, data["code"], "the PG's code")
		assert.NotEmpty(t, data["message"], "the PG's message")
		assert.Equal(t, data["code"], failed[0].Reason)
		assert.Equal(t, "12000", failed[0].Amount.String())
		assert.Contains(t, item.Reason, data["code"], "the queue says why")
		f.eventually("an alert for the refused refund", func() bool { return f.alerts.Load() > alerts })

		assert.Equal(t, pg.StatusApproved, v.Status, "nothing refunded, nothing pretended")
		entry, _ := f.ledgerEntry(order)
		assert.Zero(t, entry.Cancels)
		paidBy, _, _ := f.shop.state(order)
		assert.Equal(t, res.PaymentID, paidBy, "the order stands")

		f.resolve(paygate.AttentionSaga, item.ID, "refunded by bank transfer")
		assert.Empty(t, f.attention(res.PaymentID))
		f.checkInvariants(order)
	})
}

// A cancel refused on its first call: the caller gets ErrPG with the PG's
// code, and the refusal is recorded, alerted and queued all the same. Once
// the cause is fixed, the operator's retry sends it again and it goes
// through.
func TestRefund_RefusedDirectly_ErrPGAndQueuedThenRetried(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		const order = "ord-refund-direct"
		res, err := f.p.Approve(ctx, f.checkout(order, 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		alerts := f.alerts.Load()
		f.refuseCancel(order)

		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(3000), Reason: "one item returned", IdempotencyKey: "p1"})
		require.ErrorIs(t, err, paygate.ErrPG)
		var pe *pg.Error
		require.ErrorAs(t, err, &pe)
		assert.NotEmpty(t, pe.Code)
		assert.Equal(t, f.pg.name, pe.PG)

		failed := f.events(res.PaymentID, paygate.EventRefundFailed)
		require.Len(t, failed, 1)
		assert.Equal(t, pe.Code, failed[0].Reason)
		item := f.sagaAttention(res.PaymentID, saga.NeedsAttention)
		assert.Contains(t, item.Reason, pe.Code)
		f.eventually("an alert for the refused refund", func() bool { return f.alerts.Load() > alerts })

		// Another refund can be asked for meanwhile; the refused one does
		// not block it.
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(1000), Reason: "shipping refunded", IdempotencyKey: "p2"})
		require.NoError(t, err)

		require.NoError(t, f.p.RetryAttention(ctx, paygate.AttentionSaga, item.ID))
		f.settled(res.PaymentID)
		assert.Empty(t, f.attention(res.PaymentID))
		v := f.payment(res.PaymentID)
		assert.Equal(t, pg.StatusPartialCanceled, v.Status)
		assert.True(t, v.CanceledAmount.Equal(pg.Won(4000)), "canceled %s", v.CanceledAmount)
		for _, c := range v.Cancels {
			assert.Equal(t, "DONE", c.Status)
		}
		assert.Len(t, f.events(res.PaymentID, paygate.EventPaymentCanceled), 2)

		assert.ErrorIs(t, f.p.RetryAttention(ctx, paygate.AttentionSaga, item.ID), paygate.ErrConflict, "nothing left to retry")
		assert.ErrorIs(t, f.p.ResolveAttention(ctx, paygate.AttentionSaga, "no-such-saga", "x"), paygate.ErrNotFound)
		assert.ErrorIs(t, f.p.ResolveAttention(ctx, "payment", res.PaymentID, "x"), paygate.ErrInvalid)
		f.checkInvariants(order)
	})
}
