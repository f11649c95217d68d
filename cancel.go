package paygate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// CancelRequest refunds all or part of an approved payment.
type CancelRequest struct {
	PaymentID string
	// Amount to refund; unset refunds the whole remaining balance.
	Amount pg.Money
	Reason string
	// IdempotencyKey makes the cancel safe to send again: the same key for
	// the same payment is the same cancel, applied once. Empty means a new
	// cancel every call.
	IdempotencyKey string
	// Operator, when set, names the operator asking for the refund: the
	// cancel is recorded in the payment's timeline as an OPERATOR_ACTION
	// event (who, the amount, the reason), in the transaction that records
	// the cancel. A resent cancel (same IdempotencyKey) records nothing
	// again.
	Operator string
}

// Cancel refunds a payment, fully or partly, at its PG. The PG's balance
// guard travels with the request, so a cancel resent after an unknown
// outcome is applied at most once; an outcome that stays unknown is resolved
// by lookup in the background and the returned payment shows the cancel as
// pending. One cancel runs at a time per payment (ErrInProgress otherwise);
// more than the balance is ErrConflict; a PG refusal is ErrPG.
func (p *Paygate) Cancel(ctx context.Context, req CancelRequest) (*PaymentView, error) {
	ctx, span := p.tel.Tracer.Start(ctx, "paygate.Cancel", trace.WithAttributes(telemetry.PaymentID.String(req.PaymentID)))
	defer span.End()
	view, err := p.cancel(ctx, req)
	if err != nil {
		telemetry.Fail(span, err)
		return nil, err
	}
	span.SetAttributes(telemetry.PG.String(view.PG), telemetry.OrderID.String(view.OrderID),
		telemetry.Status.String(string(view.Status)))
	return view, nil
}

func (p *Paygate) cancel(ctx context.Context, req CancelRequest) (*PaymentView, error) {
	if req.PaymentID == "" {
		return nil, fmt.Errorf("%w: paymentId is required", ErrInvalid)
	}
	if req.Reason == "" || utf8.RuneCountInString(req.Reason) > 200 {
		return nil, fmt.Errorf("%w: reason must be 1 to 200 characters", ErrInvalid)
	}
	if req.Amount.IsSet() && !req.Amount.IsPositive() {
		return nil, fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	if utf8.RuneCountInString(req.Operator) > maxOperatorLen {
		return nil, fmt.Errorf("%w: operator longer than %d characters", ErrInvalid, maxOperatorLen)
	}
	if len(req.IdempotencyKey) > idempotency.MaxKeyLen {
		return nil, fmt.Errorf("%w: idempotency key longer than %d characters", ErrInvalid, idempotency.MaxKeyLen)
	}
	key := ""
	if req.IdempotencyKey != "" {
		key = "cancel:" + req.PaymentID + ":" + req.IdempotencyKey
		// The stored key has 255 characters (payment_cancels); a longer
		// one, or one that looks like a digest, is stored as its digest.
		if len(key) > 255 || strings.HasPrefix(req.IdempotencyKey, "sha256:") {
			sum := sha256.Sum256([]byte(req.IdempotencyKey))
			key = "cancel:" + req.PaymentID + ":sha256:" + hex.EncodeToString(sum[:])
		}
	}

	var (
		c    *store.Cancel
		inst *saga.Instance
	)
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		c, inst = nil, nil
		pay, err := p.db.LockPayment(ctx, tx, req.PaymentID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: payment %q", ErrNotFound, req.PaymentID)
		}
		if err != nil {
			return err
		}
		if key != "" {
			prior, err := p.db.CancelByIdempotencyKeyTx(ctx, tx, key)
			if err == nil {
				if req.Amount.IsSet() && !prior.Amount.Equal(req.Amount) {
					return fmt.Errorf("%w: idempotency key already used for a cancel of %s", ErrConflict, prior.Amount)
				}
				c = prior
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		switch pay.Status {
		case pg.StatusApproved, pg.StatusPartialCanceled:
		case pg.StatusApproving, pg.StatusUnknown:
			return fmt.Errorf("%w: payment %s is %s; its approval is being resolved", ErrInProgress, pay.ID, pay.Status)
		default:
			return fmt.Errorf("%w: payment %s is %s; nothing to refund", ErrConflict, pay.ID, pay.Status)
		}
		if pending, err := p.pendingCancel(ctx, tx, pay.ID); err != nil {
			return err
		} else if pending != nil {
			return fmt.Errorf("%w: cancel %s of payment %s is in flight", ErrInProgress, pending.ID, pay.ID)
		}
		if err := p.checkOrderStepDone(ctx, tx, pay); err != nil {
			return err
		}
		bal, err := balance(pay)
		if err != nil {
			return err
		}
		amount := req.Amount
		if !amount.IsSet() {
			amount = bal
		}
		if cmp, err := amount.Cmp(bal); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		} else if cmp > 0 {
			return fmt.Errorf("%w: cancel of %s exceeds the refundable %s", ErrConflict, amount, bal)
		}
		if !amount.Equal(bal) {
			gw, err := p.gateway(pay.PG)
			if err != nil {
				return err
			}
			if !gw.Capabilities().PartialCancel {
				return fmt.Errorf("%w: %s does not support partial cancels", ErrInvalid, pay.PG)
			}
		}
		c = &store.Cancel{
			ID: store.NewCancelID(), PaymentID: pay.ID, Amount: amount, Reason: req.Reason, Status: store.CancelRequested,
		}
		c.IdempotencyKey = key
		if key == "" {
			c.IdempotencyKey = "cancel:" + c.ID
		}
		if err := p.db.InsertCancel(ctx, tx, c); err != nil {
			return err
		}
		if req.Operator != "" {
			if err := p.record(ctx, tx, pay, eventSpec{
				typ: EventOperatorAction, amount: amount.Amount().String(), reason: req.Reason,
				data: OperatorAction{Operator: req.Operator, Action: ActionRefund, CancelID: c.ID},
			}); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(sagaPayload{PaymentID: pay.ID, CancelID: c.ID})
		if err != nil {
			return err
		}
		inst, err = p.runner.Start(ctx, tx, p.refundSaga, c.ID, raw, saga.Inline())
		return err
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("%w: the same cancel is being requested by another request", ErrInProgress)
	}
	if err != nil {
		return nil, err
	}
	if inst != nil {
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ApproveTimeout)
		defer cancel()
		if _, err := p.runner.RunInline(runCtx, inst, 1); err != nil {
			p.log.Warn("paygate: inline cancel handed to the runners", "cancel", c.ID, "err", err)
		}
	}
	done, err := p.db.CancelByID(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if done.Status == store.CancelFailed {
		pgName := ""
		if pay, err := p.db.PaymentByID(ctx, c.PaymentID); err == nil {
			pgName = pay.PG
		}
		return nil, fmt.Errorf("%w: %w", ErrPG, &pg.Error{Op: "cancel", Kind: pg.KindDeclined, Code: done.FailureCode, Message: done.FailureMessage, PG: pgName})
	}
	return p.Payment(ctx, req.PaymentID)
}

// checkOrderStepDone refuses a cancel while the payment saga has not
// finished with the order (create_order in flight or waiting to be retried,
// or the saga compensating): a refund then could be followed by the order's
// creation for a refunded payment. It runs after the payment is locked in
// tx, and the order step's outcome commits under the same lock, so the
// answer cannot go stale before the cancel is recorded. A saga that needs
// an operator does not block a refund the operator asks for.
func (p *Paygate) checkOrderStepDone(ctx context.Context, tx *sql.Tx, pay *store.Payment) error {
	in, err := p.sagas.InstanceByKey(ctx, tx, paymentSagaName, pay.ID)
	if errors.Is(err, saga.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch in.State {
	case saga.Completed, saga.Compensated, saga.NeedsAttention:
		return nil
	}
	return fmt.Errorf("%w: payment %s: its order is still being created", ErrInProgress, pay.ID)
}
