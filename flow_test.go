package paygate_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/saga"
)

func TestApprove_Approved_OrderCreatedAndSettledOnce(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		res, err := f.p.Approve(context.Background(), f.checkout("ord-ok", 15000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, res.Status)
		assert.False(t, res.ApprovedAt.IsZero())

		f.settled(res.PaymentID)
		paidBy, creates, rollbacks := f.shop.state("ord-ok")
		assert.Equal(t, res.PaymentID, paidBy)
		assert.Equal(t, 1, creates)
		assert.Zero(t, rollbacks)
		assert.ElementsMatch(t, []string{paygate.EventPaymentApproved, paygate.EventOrderCreated, paygate.EventSettlementRecorded},
			f.eventTypes(res.PaymentID))
		f.checkInvariants("ord-ok")
	})
}

func TestApprove_SameRequestTwice_OnePaymentOnePGApproval(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		req := f.checkout("ord-twice", 8000, pgtest.FaultNone)
		first, err := f.p.Approve(context.Background(), req)
		require.NoError(t, err)
		second, err := f.p.Approve(context.Background(), req)
		require.NoError(t, err)
		assert.Equal(t, first.PaymentID, second.PaymentID)
		assert.Equal(t, pg.StatusApproved, second.Status)
		f.settled(first.PaymentID)
		f.checkInvariants("ord-twice")
	})
}

func TestApprove_AmountDiffersFromCheckout_RejectedBeforeThePG(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		req := f.checkout("ord-amount", 15000, pgtest.FaultNone)
		req.Amount = pg.Won(1500)
		_, err := f.p.Approve(context.Background(), req)
		require.ErrorIs(t, err, paygate.ErrAmountMismatch)

		entry, _ := f.ledgerEntry("ord-amount")
		assert.Zero(t, entry.Approvals, "the PG was never asked to approve")
		ps, err := f.db.PaymentsByOrder(context.Background(), "ord-amount")
		require.NoError(t, err)
		assert.Empty(t, ps, "nothing was recorded")
	})
}

func TestApprove_UnknownOrderOrPG_ClearErrors(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		_, err := f.p.Approve(ctx, paygate.ApproveRequest{PG: f.pg.name, OrderID: "never-prepared", Amount: pg.Won(1000)})
		assert.ErrorIs(t, err, paygate.ErrNotFound)
		_, err = f.p.Approve(ctx, paygate.ApproveRequest{PG: "nopay", OrderID: "x", Amount: pg.Won(1000)})
		assert.ErrorIs(t, err, paygate.ErrInvalid)
		_, err = f.p.Approve(ctx, paygate.ApproveRequest{PG: f.pg.name, OrderID: "", Amount: pg.Won(1000)})
		assert.ErrorIs(t, err, paygate.ErrInvalid)
		_, err = f.p.Approve(ctx, paygate.ApproveRequest{PG: f.pg.name, OrderID: "x"})
		assert.ErrorIs(t, err, paygate.ErrInvalid)
	})
}

func TestApprove_Declined_FailedAndOrderCanBePaidAgain(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-decline", 9000, pgtest.FaultDecline))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusFailed, res.Status)
		assert.NotEmpty(t, res.FailureCode)
		f.settled(res.PaymentID)
		paidBy, creates, _ := f.shop.state("ord-decline")
		assert.Empty(t, paidBy)
		assert.Zero(t, creates)

		again, err := f.p.Approve(ctx, f.checkout("ord-decline", 9000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, again.Status)
		assert.NotEqual(t, res.PaymentID, again.PaymentID)
		f.settled(again.PaymentID)
		f.checkInvariants("ord-decline")
	})
}

func TestApprove_ResponseLost_UnknownThenApprovedByLookup(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		res, err := f.p.Approve(context.Background(), f.checkout("ord-lost", 12000, pgtest.FaultTimeout))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusUnknown, res.Status, "the answer of the attempt, whatever a runner learned since")

		f.settled(res.PaymentID)
		assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status)
		_, creates, _ := f.shop.state("ord-lost")
		assert.Equal(t, 1, creates, "the order is created once")
		assert.Contains(t, f.eventTypes(res.PaymentID), paygate.EventPaymentUnknown)
		f.checkInvariants("ord-lost")
	})
}

func TestApprove_LostAndNeverApproved_UnknownThenFailedByLookup(t *testing.T) {
	for _, fault := range []pgtest.Fault{pgtest.FaultTimeoutUnapproved, pgtest.FaultError500} {
		t.Run(string(fault), func(t *testing.T) {
			eachPG(t, func(t *testing.T, f *flow) {
				res, err := f.p.Approve(context.Background(), f.checkout("ord-unapproved", 7000, fault))
				require.NoError(t, err)
				assert.Equal(t, pg.StatusUnknown, res.Status)

				f.settled(res.PaymentID)
				assert.Equal(t, pg.StatusFailed, f.payment(res.PaymentID).Status)
				paidBy, creates, _ := f.shop.state("ord-unapproved")
				assert.Empty(t, paidBy)
				assert.Zero(t, creates)
				f.checkInvariants("ord-unapproved")
			})
		})
	}
}

func TestApprove_ConcurrentForOneOrder_OnePGApproval(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		req := f.checkout("ord-race", 20000, pgtest.FaultNone)
		var wg sync.WaitGroup
		results := make(chan *paygate.ApproveResult, 10)
		errs := make(chan error, 10)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.p.Approve(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				results <- res
			}()
		}
		wg.Wait()
		close(results)
		close(errs)
		ids := map[string]bool{}
		for res := range results {
			assert.Equal(t, pg.StatusApproved, res.Status)
			ids[res.PaymentID] = true
		}
		require.Len(t, ids, 1, "every caller that got an answer got the same payment")
		for err := range errs {
			assert.ErrorIs(t, err, paygate.ErrInProgress)
		}
		for id := range ids {
			f.settled(id)
		}
		f.checkInvariants("ord-race")
	})
}

func TestOrderFails_Permanently_RefundedOnceAndRolledBack(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		f.shop.permanent["ord-nostock"] = true
		res, err := f.p.Approve(context.Background(), f.checkout("ord-nostock", 30000, pgtest.FaultNone))
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, res.Status)

		f.settled(res.PaymentID)
		v := f.payment(res.PaymentID)
		assert.Equal(t, pg.StatusCanceled, v.Status)
		require.Len(t, v.Cancels, 1)
		assert.Equal(t, "ORDER_FAILED", v.Cancels[0].Reason)
		entry, _ := f.ledgerEntry("ord-nostock")
		assert.Equal(t, 1, entry.Cancels, "refunded once at the PG")
		_, creates, rollbacks := f.shop.state("ord-nostock")
		assert.Equal(t, 1, creates, "a permanent failure is not retried")
		assert.GreaterOrEqual(t, rollbacks, 1)
		assert.Contains(t, f.eventTypes(res.PaymentID), paygate.EventOrderCreationFailed)
		assert.Contains(t, f.eventTypes(res.PaymentID), paygate.EventPaymentRefunded)
		f.checkInvariants("ord-nostock")
	})
}

func TestOrderFails_Transiently_RetriedThenCreated(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		f.shop.transient["ord-flaky"] = 2
		res, err := f.p.Approve(context.Background(), f.checkout("ord-flaky", 5000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		paidBy, creates, _ := f.shop.state("ord-flaky")
		assert.Equal(t, res.PaymentID, paidBy)
		assert.Equal(t, 3, creates)
		assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status)
		f.checkInvariants("ord-flaky")
	})
}

func TestOrderFails_RetriesExhausted_Refunded(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		f.shop.transient["ord-down"] = 100
		res, err := f.p.Approve(context.Background(), f.checkout("ord-down", 5000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)
		_, creates, _ := f.shop.state("ord-down")
		assert.Equal(t, 4, creates, "OrderRetry.MaxAttempts")
		assert.Equal(t, pg.StatusCanceled, f.payment(res.PaymentID).Status)
		f.checkInvariants("ord-down")
	})
}

func TestRefund_RefusedForGood_NeedsAttentionAndAlert(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		f.shop.permanent["ord-stuck"] = true
		release := f.shop.hold("ord-stuck")
		res, err := f.p.Approve(context.Background(), f.checkout("ord-stuck", 11000, pgtest.FaultNone))
		require.NoError(t, err)
		f.failRefund("ord-stuck", pgtest.FaultDecline)
		release()
		f.eventually("the saga to need attention", func() bool {
			list, err := f.p.Unresolved(context.Background(), 0, 100)
			require.NoError(t, err)
			for _, a := range list {
				if a.Kind == "saga" && a.PaymentID == res.PaymentID && a.State == string(saga.NeedsAttention) {
					assert.NotEmpty(t, a.Reason)
					return true
				}
			}
			return false
		})
		// The alert hook runs just after the commit the queue shows.
		f.eventually("an alert", func() bool { return f.alerts.Load() > 0 })
		assert.Equal(t, pg.StatusApproved, f.payment(res.PaymentID).Status, "nothing refunded, nothing pretended")
	})
}

func TestRefund_AnswerLost_LookedUpAndAppliedOnce(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		f.shop.permanent["ord-refund-lost"] = true
		release := f.shop.hold("ord-refund-lost")
		res, err := f.p.Approve(context.Background(), f.checkout("ord-refund-lost", 16000, pgtest.FaultNone))
		require.NoError(t, err)
		f.failRefund("ord-refund-lost", pgtest.FaultTimeout)
		release()
		f.settled(res.PaymentID)
		assert.Equal(t, pg.StatusCanceled, f.payment(res.PaymentID).Status)
		entry, _ := f.ledgerEntry("ord-refund-lost")
		assert.Equal(t, 1, entry.Cancels)
		f.checkInvariants("ord-refund-lost")
	})
}

func TestCancel_PartialThenFull_BalanceGuardedAndIdempotent(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-cancel", 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(3000), Reason: "one item returned", IdempotencyKey: "k1"})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusPartialCanceled, v.Status)
		assert.True(t, v.Balance.Equal(pg.Won(7000)), "balance %s", v.Balance)

		again, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(3000), Reason: "one item returned", IdempotencyKey: "k1"})
		require.NoError(t, err)
		assert.True(t, again.CanceledAmount.Equal(pg.Won(3000)), "the same key refunds once")

		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(8000), Reason: "too much", IdempotencyKey: "k2"})
		assert.ErrorIs(t, err, paygate.ErrConflict, "more than the balance")
		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(5000), Reason: "changed", IdempotencyKey: "k1"})
		assert.ErrorIs(t, err, paygate.ErrConflict, "a key reused for another amount")

		full, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "order canceled", IdempotencyKey: "k3"})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusCanceled, full.Status)
		assert.True(t, full.Balance.IsZero())

		_, err = f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Reason: "again", IdempotencyKey: "k4"})
		assert.ErrorIs(t, err, paygate.ErrConflict)
		f.settled(res.PaymentID)
		f.checkInvariants("ord-cancel")
	})
}

func TestCancel_AnswerLost_ResolvedAndAppliedOnce(t *testing.T) {
	eachPG(t, func(t *testing.T, f *flow) {
		ctx := context.Background()
		res, err := f.p.Approve(ctx, f.checkout("ord-cancel-lost", 10000, pgtest.FaultNone))
		require.NoError(t, err)
		f.settled(res.PaymentID)

		f.failRefund("ord-cancel-lost", pgtest.FaultTimeout)
		v, err := f.p.Cancel(ctx, paygate.CancelRequest{PaymentID: res.PaymentID, Amount: pg.Won(4000), Reason: "partial", IdempotencyKey: "lost"})
		require.NoError(t, err)
		require.Len(t, v.Cancels, 1)
		f.settled(res.PaymentID)
		v = f.payment(res.PaymentID)
		assert.Equal(t, pg.StatusPartialCanceled, v.Status)
		assert.True(t, v.CanceledAmount.Equal(pg.Won(4000)))
		entry, _ := f.ledgerEntry("ord-cancel-lost")
		assert.Equal(t, 1, entry.Cancels)
		f.checkInvariants("ord-cancel-lost")
	})
}
