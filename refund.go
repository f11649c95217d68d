package paygate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// pendingCancel returns a cancel of the payment that is not finished, read
// in tx.
func (p *Paygate) pendingCancel(ctx context.Context, tx *sql.Tx, paymentID string) (*store.Cancel, error) {
	cs, err := p.db.CancelsByPaymentTx(ctx, tx, paymentID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Status == store.CancelRequested || c.Status == store.CancelUnknown {
			return c, nil
		}
	}
	return nil, nil
}

// executeCancel sends a cancel to the PG and records its outcome. When an
// earlier attempt may have reached the PG (recovering, or the cancel is
// UNKNOWN), it looks the payment up first and records what the PG's cancels
// show (syncCancels: this cancel found applied, cancels made at the PG
// directly), and only sends the cancel if it was not applied; the balance
// guard sent with it makes even a wrong guess harmless. A refusal is looked
// up too before it is taken as final: the guard refuses a cancel whose
// balance a cancel made at the PG has moved, and then the cancel is sent
// again with the new balance (or refused here when it no longer fits). It returns nil when the cancel is done,
// a saga.Permanent error when the PG refused it for good, and a transient
// error otherwise.
//
// firstAttempt is set on the first attempt of the saga step running the
// cancel. A cancel found FAILED then was refused before and an operator
// retried the step (Runner.Retry restarts the step's attempt count; a crash
// never does): it is sent again.
func (p *Paygate) executeCancel(ctx context.Context, cancelID string, recovering, firstAttempt bool) error {
	c, err := p.db.CancelByID(ctx, cancelID)
	if err != nil {
		return err
	}
	switch c.Status {
	case store.CancelDone:
		return nil
	case store.CancelFailed:
		if !firstAttempt {
			return saga.Permanent(fmt.Errorf("paygate: cancel %s refused: %s %s", c.ID, c.FailureCode, c.FailureMessage))
		}
		if c, err = p.reopenCancel(ctx, c.ID); err != nil {
			return err
		}
		recovering = true
	}
	pay, err := p.db.PaymentByID(ctx, c.PaymentID)
	if err != nil {
		return err
	}
	gw, err := p.gateway(pay.PG)
	if err != nil {
		return saga.Permanent(err)
	}
	if recovering || c.Status == store.CancelUnknown {
		// An earlier call may have reached the PG: learn its outcome (and
		// any cancel made at the PG meanwhile) before sending again.
		done, _, err := p.syncForCancel(ctx, pay, c.ID)
		if err != nil {
			return fmt.Errorf("paygate: cancel %s: look up before resending: %w", c.ID, err)
		}
		if done {
			p.countRefund(ctx, pay, refundSucceeded)
			return nil
		}
		if pay, err = p.db.PaymentByID(ctx, c.PaymentID); err != nil {
			return err
		}
	}
	bal, err := balance(pay)
	if err != nil {
		return err
	}
	if over, err := c.Amount.Cmp(bal); err != nil || over > 0 {
		// Cancels made at the PG took the balance below this one.
		return p.cancelFailed(ctx, c, &pg.Error{PG: pay.PG, Op: "cancel", Kind: pg.KindInvalid, Code: "EXCEEDS_BALANCE",
			Message: fmt.Sprintf("a cancel of %s exceeds the refundable %s", c.Amount, bal), Err: err})
	}
	prepared, err := p.prepared(ctx, pay)
	if err != nil {
		return err
	}
	res, callErr := p.traced(gw).Cancel(ctx, pg.CancelRequest{
		CancelID: c.ID, PaymentKey: pay.PaymentKey, OrderID: pay.OrderID, Amount: c.Amount, Balance: bal,
		Reason: c.Reason, Method: pg.Method(pay.Method), Prepared: prepared,
	})
	p.report(pay.PG, callErr)
	switch kind := pg.KindOf(callErr); {
	case callErr == nil:
		if err := p.commitCancel(ctx, c, lastCancel(res)); err != nil {
			return err
		}
		p.countRefund(ctx, pay, refundSucceeded)
		return nil
	case kind == pg.KindAlreadyDone || kind == pg.KindDeclined || kind == pg.KindInvalid || kind == pg.KindNotFound:
		// A refusal may be the PG's balance guard meeting a cancel made at
		// the PG that we have not heard of, or this very cancel applied by
		// an earlier call: look the payment up before taking it as final.
		done, moved, lerr := p.syncForCancel(ctx, pay, c.ID)
		switch {
		case lerr != nil && transientKind(pg.KindOf(lerr)) && !saga.IsPermanent(lerr):
			return fmt.Errorf("paygate: cancel %s refused (%w); looking it up: %w", c.ID, callErr, lerr)
		case lerr != nil:
			p.log.Warn("paygate: lookup after a refused cancel failed", "cancel", c.ID, "err", lerr)
		case done:
			p.countRefund(ctx, pay, refundSucceeded)
			return nil
		case moved:
			return fmt.Errorf("paygate: cancel %s refused (%w) while cancels made at the PG moved the balance; sending again with the new balance", c.ID, callErr)
		}
		err := p.cancelFailed(ctx, c, callErr)
		switch {
		case err == nil:
			// Found done meanwhile (a notification or a sync).
			p.countRefund(ctx, pay, refundSucceeded)
		case saga.IsPermanent(err):
			p.countRefund(ctx, pay, refundRefused)
		}
		return err
	default:
		if uerr := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			cur, err := p.db.CancelByIDTx(ctx, tx, c.ID)
			if err != nil || cur.Status != store.CancelRequested {
				return err
			}
			cur.Status = store.CancelUnknown
			cur.FailureCode, cur.FailureMessage = truncate(errCode(callErr), 128), ""
			return p.db.UpdateCancel(ctx, tx, cur, cur.Version)
		}); uerr != nil {
			return errors.Join(callErr, uerr)
		}
		p.countRefund(ctx, pay, refundUnknown)
		return fmt.Errorf("paygate: cancel %s: outcome unknown: %w", c.ID, callErr)
	}
}

// transientKind reports whether an error of kind k may go away by itself.
func transientKind(k pg.Kind) bool { return k == pg.KindUnknown || k == pg.KindUnavailable }

// syncForCancel looks the payment up at its PG and records what it shows
// of its cancels (syncCancels), then reports whether the cancel is done and
// whether the payment's canceled amount moved.
func (p *Paygate) syncForCancel(ctx context.Context, pay *store.Payment, cancelID string) (done, moved bool, err error) {
	res, err := p.lookup(ctx, pay, "")
	if err != nil {
		return false, false, err
	}
	before := pay.CanceledAmount
	after, err := p.applyPGView(ctx, pay.ID, res)
	if err != nil {
		return false, false, err
	}
	c, err := p.db.CancelByID(ctx, cancelID)
	if err != nil {
		return false, false, err
	}
	return c.Status == store.CancelDone, !orZero(after.CanceledAmount, zeroOf(after.Amount)).Equal(orZero(before, zeroOf(after.Amount))), nil
}

// lastCancel is the cancel a PG's cancel answer reports as just applied:
// the last of its list (Toss lists every cancel, KakaoPay and Inicis only
// this one).
func lastCancel(res *pg.Payment) pg.CancelRecord {
	if res == nil || len(res.Cancels) == 0 {
		return pg.CancelRecord{}
	}
	return res.Cancels[len(res.Cancels)-1]
}

// commitCancel records a cancel the PG applied, with the PG's transaction
// key and time from its answer: the cancel DONE, the payment's canceled
// amount and status, and the event, in one transaction.
func (p *Paygate) commitCancel(ctx context.Context, c *store.Cancel, rec pg.CancelRecord) error {
	return p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := p.apply(ctx, tx, c.PaymentID, func(pay *store.Payment) (bool, []eventSpec, error) {
			cur, err := p.db.CancelByIDTx(ctx, tx, c.ID)
			if err != nil {
				return false, nil, err
			}
			if cur.Status == store.CancelDone {
				return false, nil, nil
			}
			cur.Status = store.CancelDone
			cur.PGTransactionKey = truncate(rec.TransactionKey, 200)
			cur.CanceledAt = rec.CanceledAt
			cur.FailureCode, cur.FailureMessage = "", ""
			if err := p.db.UpdateCancel(ctx, tx, cur, cur.Version); err != nil {
				return false, nil, err
			}
			return p.addCanceled(pay, cur)
		})
		return err
	})
}

// compensationKeyPrefix starts the idempotency key of the refund of a
// payment whose order could not be created.
const compensationKeyPrefix = "order-failed:"

// cancelEvent is the event a done cancel records: PAYMENT_REFUNDED for the
// refund of an order that failed, PAYMENT_CANCELED for every other cancel
// (the host's, or one made at the PG). It depends on the cancel alone, so
// whoever completes it — the saga or a PG notification — records the same.
func cancelEvent(c *store.Cancel) string {
	if strings.HasPrefix(c.IdempotencyKey, compensationKeyPrefix) || strings.HasPrefix(c.IdempotencyKey, lateCaptureKeyPrefix) {
		return EventPaymentRefunded
	}
	return EventPaymentCanceled
}

// addCanceled adds a done cancel to the payment's canceled amount and
// status. The payment's CanceledAt is the PG's time of the cancel when the
// PG gave one.
func (p *Paygate) addCanceled(pay *store.Payment, c *store.Cancel) (bool, []eventSpec, error) {
	canceled := c.Amount
	if pay.CanceledAmount.IsSet() && !pay.CanceledAmount.IsZero() {
		sum, err := pay.CanceledAmount.Add(c.Amount)
		if err != nil {
			return false, nil, err
		}
		canceled = sum
	}
	if over, err := canceled.Cmp(pay.ApprovedAmount); err != nil || over > 0 {
		return false, nil, fmt.Errorf("paygate: payment %s: cancels of %s would exceed the captured %s", pay.ID, canceled, pay.ApprovedAmount)
	}
	pay.CanceledAmount = canceled
	pay.CanceledAt = c.CanceledAt.UTC()
	if c.CanceledAt.IsZero() {
		pay.CanceledAt = p.now()
	}
	if lateCaptured(pay) {
		// A capture after the write-off being refunded: the payment stays
		// FAILED (or EXPIRED); its amounts say what moved.
	} else if canceled.Equal(pay.ApprovedAmount) {
		pay.Status = pg.StatusCanceled
	} else {
		pay.Status = pg.StatusPartialCanceled
	}
	data := map[string]string{"cancelId": c.ID}
	if !c.CanceledAt.IsZero() {
		data["canceledAt"] = c.CanceledAt.UTC().Format(time.RFC3339Nano)
	}
	return true, []eventSpec{{
		typ: cancelEvent(c), amount: c.Amount.Amount().String(), reason: truncate(c.Reason, 255), data: data,
	}}, nil
}

// reopenCancel sends a refused cancel back to REQUESTED for an operator's
// retry. Another cancel of the payment in flight makes it wait (a transient
// error): one cancel runs at a time per payment.
func (p *Paygate) reopenCancel(ctx context.Context, cancelID string) (*store.Cancel, error) {
	var c *store.Cancel
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if c, err = p.db.CancelByIDTx(ctx, tx, cancelID); err != nil {
			return err
		}
		if _, err := p.db.LockPayment(ctx, tx, c.PaymentID); err != nil {
			return err
		}
		if c, err = p.db.CancelByIDTx(ctx, tx, cancelID); err != nil {
			return err
		}
		if c.Status != store.CancelFailed {
			return nil
		}
		if pending, err := p.pendingCancel(ctx, tx, c.PaymentID); err != nil {
			return err
		} else if pending != nil {
			return fmt.Errorf("paygate: cancel %s: cancel %s of the payment is in flight; retrying after it", c.ID, pending.ID)
		}
		c.Status = store.CancelRequested
		c.FailureCode, c.FailureMessage = "", ""
		return p.db.UpdateCancel(ctx, tx, c, c.Version)
	})
	if err != nil {
		return nil, err
	}
	p.log.Info("paygate: refused cancel sent again by an operator's retry", "cancel", c.ID, "payment", c.PaymentID)
	return c, nil
}

// cancelFailed records a cancel the PG refused for good: the cancel FAILED
// and a REFUND_FAILED event with the PG's code and message, in one
// transaction. The refund was asked for and did not happen, so the saga
// running it goes to NEEDS_ATTENTION (the returned error is permanent) and
// stays in the operators' queue until one retries or resolves it. A cancel
// that is DONE meanwhile (a notification or a sync found it applied)
// stays done and nil is returned.
func (p *Paygate) cancelFailed(ctx context.Context, c *store.Cancel, cause error) error {
	done := false
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		done = false
		_, err := p.apply(ctx, tx, c.PaymentID, func(pay *store.Payment) (bool, []eventSpec, error) {
			cur, err := p.db.CancelByIDTx(ctx, tx, c.ID)
			if err != nil {
				return false, nil, err
			}
			switch cur.Status {
			case store.CancelDone:
				done = true
				return false, nil, nil
			case store.CancelFailed:
				return false, nil, nil
			}
			cur.Status = store.CancelFailed
			cur.FailureCode = truncate(errCode(cause), 128)
			cur.FailureMessage = truncate(errMessage(cause), 1024)
			if err := p.db.UpdateCancel(ctx, tx, cur, cur.Version); err != nil {
				return false, nil, err
			}
			return true, []eventSpec{refundFailedEvent(cur)}, nil
		})
		return err
	})
	if err != nil || done {
		return err
	}
	return saga.Permanent(fmt.Errorf("paygate: cancel %s refused by the PG: %w", c.ID, cause))
}

// refundFailedEvent is the REFUND_FAILED event of a cancel the PG refused.
func refundFailedEvent(c *store.Cancel) eventSpec {
	return eventSpec{
		typ: EventRefundFailed, amount: c.Amount.Amount().String(), reason: truncate(c.FailureCode, 255),
		data: map[string]string{"cancelId": c.ID, "code": c.FailureCode, "message": c.FailureMessage, "cancelReason": c.Reason},
	}
}
