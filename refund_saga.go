package paygate

import (
	"context"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
)

// defineRefundSaga runs one cancel at the PG until its outcome is known and,
// when it refunded the whole payment, tells the host to roll the order back.
//
// Neither step has a way back, so neither gives up: the cancel is a refund
// the host asked for, and a PG refusal sends the saga to NEEDS_ATTENTION
// (with a REFUND_FAILED event and an alert) rather than ending it as if
// nothing had been asked; the rollback follows money that went back, and
// is retried without end on RefundRetry's backoff, alerting every
// AlertAfter attempts, so the shop never keeps selling an order it refunded
// without an operator hearing of it.
func (p *Paygate) defineRefundSaga() *saga.Definition {
	return &saga.Definition{
		Name: refundSagaName,
		Steps: []saga.Step{
			{Name: stepCancel, Action: p.cancelAction, Retry: p.cfg.ResolveRetry, MustComplete: true},
			{Name: stepRollbackOrder, Action: p.rollbackAfterCancel, Retry: p.cfg.RefundRetry, MustComplete: true},
		},
	}
}

// rollbackAfterCancel rolls the host's order back once its payment is
// refunded in full; after a partial refund the order stands.
func (p *Paygate) rollbackAfterCancel(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	pl, pay, err := p.sagaPayment(ctx, a)
	if err != nil {
		return saga.Result{}, err
	}
	if pay.Status != pg.StatusCanceled {
		return saga.Result{}, nil
	}
	c, err := p.db.CancelByID(ctx, pl.CancelID)
	if err != nil {
		return saga.Result{}, err
	}
	err = p.cfg.Orders.RollbackOrder(ctx, OrderRequest{
		OrderID: pay.OrderID, PaymentID: pay.ID, PG: pay.PG, Amount: pay.Amount, Reason: c.Reason,
	})
	if err != nil {
		return saga.Result{}, fmt.Errorf("paygate: roll back order %q: %w", pay.OrderID, err)
	}
	return saga.Result{}, nil
}

func (p *Paygate) cancelAction(ctx context.Context, a saga.Attempt) (saga.Result, error) {
	pl, err := decodePayload(a)
	if err != nil {
		return saga.Result{}, err
	}
	return saga.Result{}, p.executeCancel(ctx, pl.CancelID, a.Recovering, a.Number == 1)
}
