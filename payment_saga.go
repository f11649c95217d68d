package paygate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// errStillPending is the transient error of an approval that is not settled
// yet at the PG (a virtual account waiting for its deposit, a lookup too
// soon after the call): the runner looks again later.
var errStillPending = errors.New("paygate: payment not settled at the PG yet")

// definePaymentSaga is the flow after the buyer authenticated:
//
//	approve       call the PG (inline, from Approve); unknown outcomes are
//	              resolved by lookup on the ResolveRetry schedule.
//	              Compensation: refund at the PG, then roll the order back.
//	create_order  the host's OrderService, retried on OrderRetry; a
//	              permanent failure or exhausted retries compensate.
//
// The settlement ledger is not a step: it follows the PAYMENT_APPROVED and
// refund events through the outbox and is retried until it lands, so a
// ledger failure never refunds a payment.
func (p *Paygate) definePaymentSaga() *saga.Definition {
	return &saga.Definition{
		Name: paymentSagaName,
		Steps: []saga.Step{
			{
				Name:              stepApprove,
				Action:            p.approveAction,
				Resolve:           p.approveResolve,
				Compensate:        p.approveCompensate,
				Retry:             p.cfg.ResolveRetry,
				CompensationRetry: p.cfg.RefundRetry,
			},
			{
				Name:   stepCreateOrder,
				Action: p.createOrderAction,
				Retry:  p.cfg.OrderRetry,
			},
		},
	}
}

// settled answers an approve step from the payment's stored status when the
// outcome is already known (a webhook or an earlier attempt recorded it).
func settled(pay *store.Payment) (done bool, err error) {
	switch pay.Status {
	case pg.StatusApproved, pg.StatusPartialCanceled, pg.StatusCanceled:
		return true, nil
	case pg.StatusFailed, pg.StatusExpired:
		return true, saga.Permanent(fmt.Errorf("paygate: payment %s %s: %s", pay.ID, pay.Status, pay.FailureCode))
	case pg.StatusWaitingForDeposit:
		return true, errStillPending
	}
	return false, nil
}

func (p *Paygate) approveAction(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	pl, pay, err := p.sagaPayment(ctx, a)
	if err != nil {
		return saga.Result{}, err
	}
	if done, err := settled(pay); done {
		return saga.Result{}, err
	}
	gw, err := p.gateway(pay.PG)
	if err != nil {
		return saga.Result{}, saga.Permanent(err)
	}
	prepared, err := p.prepared(ctx, pay)
	if err != nil {
		return saga.Result{}, err
	}
	res, err := p.traced(gw).Approve(ctx, pg.ApproveRequest{
		PaymentID: pay.ID, OrderID: pay.OrderID, Amount: pay.Amount,
		PaymentKey: pl.PaymentKey, Redirect: pl.Redirect, Prepared: prepared,
	})
	p.report(pay.PG, err)
	if err == nil && res.OrderID != "" && res.OrderID != pay.OrderID {
		// The PG answered with another order's payment (a key or token that
		// belongs to another order): never record it as this one's.
		p.log.Warn("paygate: the PG's approval answer names another order", "payment", pay.ID, "order", pay.OrderID, "answered", res.OrderID)
		return saga.Result{Commit: p.outcome(pay.ID, func(ctx context.Context, tx *sql.Tx) paymentChange {
			fail := p.failedChange(ctx, tx, pg.StatusFailed, "PAYMENT_KEY_MISMATCH", "the PG answered for another order")
			return func(cur *store.Payment) (bool, []eventSpec, error) {
				// The key is the other payment's: this one must not hold it.
				cur.PaymentKey = ""
				return fail(cur)
			}
		})}, saga.Permanent(fmt.Errorf("paygate: payment %s: %w", pay.ID, ErrPaymentKeyMismatch))
	}
	if err == nil {
		return p.approvalResult(pay, res)
	}
	switch pg.KindOf(err) {
	case pg.KindAlreadyDone:
		// The PG approved this payment before (a resend after a lost
		// answer): look it up for the result.
		return p.approveResolve(ctx, a)
	case pg.KindDeclined, pg.KindInvalid, pg.KindNotFound:
		return p.failed(pay.ID, pg.StatusFailed, errCode(err), errMessage(err), err)
	case pg.KindUnavailable:
		// Definitely not processed (refused, 429, maintenance), and the
		// shared HTTP client already retried what was safe: fail the
		// attempt so the buyer can pay again, instead of holding the
		// order for an outcome that is already known.
		return p.failed(pay.ID, pg.StatusFailed, errCode(err), errMessage(err), err)
	default:
		return saga.Result{Commit: p.outcome(pay.ID, func(context.Context, *sql.Tx) paymentChange { return unknownChange(err) })},
			fmt.Errorf("paygate: approve %s: outcome unknown: %w", pay.ID, err)
	}
}

// approvalResult records what the PG reported for an approval of pay, as
// the step read it before the call.
func (p *Paygate) approvalResult(pay *store.Payment, res *pg.Payment) (saga.Result, error) {
	written := &carriedPayment{}
	commit := func(ctx context.Context, tx *sql.Tx) error {
		forgetApplied(ctx)
		after, err := p.applyKnown(ctx, tx, pay, p.approvedChange(res))
		if err == nil {
			noteApplied(ctx, after)
			written.pay = after
		}
		return err
	}
	if res.Status == pg.StatusWaitingForDeposit {
		return saga.Result{Commit: commit}, errStillPending
	}
	// The order step that follows gets the payment as this commit wrote
	// it instead of reading it again.
	return saga.Result{Commit: commit, Carry: written}, nil
}

func (p *Paygate) failed(paymentID string, status pg.Status, code, message string, cause error) (saga.Result, error) {
	return saga.Result{Commit: p.outcome(paymentID, func(ctx context.Context, tx *sql.Tx) paymentChange {
		return p.failedChange(ctx, tx, status, code, message)
	})}, saga.Permanent(fmt.Errorf("paygate: payment %s %s: %w", paymentID, status, cause))
}

// outcome is the commit of an approve step's outcome other than an approval
// (a decline, an unknown outcome): change, made in the commit's
// transaction, applied to the payment under its lock. When the step runs
// inline, Approve answers with the payment as this commit wrote it.
func (p *Paygate) outcome(paymentID string, change func(context.Context, *sql.Tx) paymentChange) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		forgetApplied(ctx)
		after, err := p.apply(ctx, tx, paymentID, change(ctx, tx))
		if err == nil {
			noteApplied(ctx, after)
		}
		return err
	}
}

// approveResolve looks the payment up at the PG after an attempt whose
// outcome is unknown. Found captured: APPROVED. Found failed or expired:
// FAILED. Not there or not approved: FAILED too, but only once SettleDelay
// has passed since the payment was created, so an approval the PG is still
// processing is not written off.
func (p *Paygate) approveResolve(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	pl, pay, err := p.sagaPayment(ctx, a)
	if err != nil {
		return saga.Result{}, err
	}
	if done, err := settled(pay); done && !errors.Is(err, errStillPending) {
		return saga.Result{}, err
	}
	res, err := p.lookup(ctx, pay, pl.PaymentKey)
	switch {
	case err == nil:
	case pg.KindOf(err) == pg.KindNotFound:
		res = &pg.Payment{Status: pg.StatusPending}
	default:
		return p.stillUnknown(pay.ID, err)
	}
	switch res.Status {
	case pg.StatusApproved, pg.StatusPartialCanceled, pg.StatusCanceled, pg.StatusWaitingForDeposit:
		return p.approvalResult(pay, res)
	case pg.StatusFailed:
		return p.failed(pay.ID, pg.StatusFailed, codeNotApproved, "the PG reports the payment failed", errors.New(res.PGStatus))
	case pg.StatusExpired:
		status := pg.StatusFailed
		if pay.Status == pg.StatusWaitingForDeposit {
			status = pg.StatusExpired
		}
		return p.failed(pay.ID, status, codeExpired, "the PG reports the payment expired", errors.New(res.PGStatus))
	default:
		if p.now().Sub(pay.CreatedAt) < p.cfg.SettleDelay {
			return p.stillUnknown(pay.ID, errStillPending)
		}
		return p.failed(pay.ID, pg.StatusFailed, codeNotApproved, "the PG has no approval for this payment", errStillPending)
	}
}

func (p *Paygate) stillUnknown(paymentID string, cause error) (saga.Result, error) {
	return saga.Result{Commit: p.outcome(paymentID, func(context.Context, *sql.Tx) paymentChange { return unknownChange(cause) })},
		fmt.Errorf("paygate: payment %s still unresolved: %w", paymentID, cause)
}

// createOrderAction asks the host to create the order of a captured payment.
func (p *Paygate) createOrderAction(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	_, pay, err := p.sagaPayment(ctx, a)
	if err != nil {
		return saga.Result{}, err
	}
	orderFailed := func(reason string, cause error) (saga.Result, error) {
		return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
			_, err := p.apply(ctx, tx, pay.ID, func(*store.Payment) (bool, []eventSpec, error) {
				return true, []eventSpec{{typ: EventOrderCreationFailed, reason: truncate(reason, 255)}}, nil
			})
			return err
		}}, cause
	}
	if !pay.Status.Captured() {
		err := fmt.Errorf("paygate: payment %s is %s, not captured", pay.ID, pay.Status)
		return orderFailed("PAYMENT_NOT_CAPTURED", saga.Permanent(err))
	}
	if !pay.ApprovedAmount.Equal(pay.Amount) {
		err := fmt.Errorf("paygate: payment %s captured %s for an order of %s", pay.ID, pay.ApprovedAmount, pay.Amount)
		return orderFailed("AMOUNT_MISMATCH", saga.Permanent(err))
	}
	err = p.cfg.Orders.CreateOrder(ctx, OrderRequest{OrderID: pay.OrderID, PaymentID: pay.ID, PG: pay.PG, Amount: pay.Amount})
	switch {
	case err == nil:
		return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
			_, err := p.applyKnown(ctx, tx, pay, func(*store.Payment) (bool, []eventSpec, error) {
				return true, []eventSpec{{typ: EventOrderCreated}}, nil
			})
			return err
		}}, nil
	case IsPermanent(err):
		return orderFailed(err.Error(), saga.Permanent(err))
	case p.cfg.OrderRetry.MaxAttempts > 0 && a.Number >= p.cfg.OrderRetry.MaxAttempts:
		return orderFailed("RETRIES_EXHAUSTED: "+err.Error(), err)
	default:
		return saga.Result{}, err
	}
}

// approveCompensate undoes a payment whose order could not be created:
// refund whatever was captured (exactly once, through the PG's balance guard
// and our cancel record), then roll the host's order back.
func (p *Paygate) approveCompensate(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	pl, pay, err := p.sagaPayment(ctx, a)
	if err != nil {
		return saga.Result{}, err
	}
	switch pay.Status {
	case pg.StatusApproving, pg.StatusUnknown:
		// Learn first whether there is anything to refund.
		res, err := p.approveResolve(ctx, a)
		if res.Commit != nil {
			if cerr := p.db.InTx(ctx, res.Commit); cerr != nil {
				return saga.Result{}, cerr
			}
		}
		if err != nil && !saga.IsPermanent(err) {
			return saga.Result{}, err
		}
		if pay, err = p.db.PaymentByID(ctx, pl.PaymentID); err != nil {
			return saga.Result{}, err
		}
	}
	if pay.Status.Captured() {
		c, err := p.compensationCancel(ctx, pay)
		if err != nil {
			return saga.Result{}, err
		}
		if c != nil {
			if err := p.executeCancel(ctx, c.ID, a.Recovering || a.Number > 1, a.Number == 1); err != nil {
				return saga.Result{}, err
			}
		}
	}
	err = p.cfg.Orders.RollbackOrder(ctx, OrderRequest{
		OrderID: pay.OrderID, PaymentID: pay.ID, PG: pay.PG, Amount: pay.Amount, Reason: "ORDER_FAILED",
	})
	if err != nil {
		return saga.Result{}, fmt.Errorf("paygate: roll back order %q: %w", pay.OrderID, err)
	}
	return saga.Result{}, nil
}

// compensationCancel returns the refund of a payment whose order failed,
// creating it on the first call. It is nil when nothing is left to refund.
func (p *Paygate) compensationCancel(ctx context.Context, pay *store.Payment) (*store.Cancel, error) {
	key := compensationKeyPrefix + pay.ID
	var c *store.Cancel
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		c = nil
		existing, err := p.db.CancelByIdempotencyKeyTx(ctx, tx, key)
		if err == nil {
			c = existing
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		locked, err := p.db.LockPayment(ctx, tx, pay.ID)
		if err != nil {
			return err
		}
		if pending, err := p.pendingCancel(ctx, tx, locked.ID); err != nil {
			return err
		} else if pending != nil {
			return fmt.Errorf("paygate: payment %s has cancel %s in flight; refund after it", locked.ID, pending.ID)
		}
		amount, err := balance(locked)
		if err != nil {
			return err
		}
		if !amount.IsPositive() {
			return nil
		}
		c = &store.Cancel{
			ID: store.NewCancelID(), PaymentID: locked.ID, IdempotencyKey: key, Amount: amount,
			Reason: "ORDER_FAILED", Status: store.CancelRequested,
		}
		return p.db.InsertCancel(ctx, tx, c)
	})
	return c, err
}
