package paygate

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// sagaPayload is what the payment saga carries: enough to call the PG again
// after a crash. The rest is read from the payment and checkout rows.
type sagaPayload struct {
	PaymentID  string            `json:"paymentId"`
	CancelID   string            `json:"cancelId,omitempty"`
	PaymentKey string            `json:"paymentKey,omitempty"`
	Redirect   map[string]string `json:"redirect,omitempty"`
}

// Steps of the payment saga.
const (
	paymentSagaName = "payment"
	stepApprove     = "approve"
	stepCreateOrder = "create_order"
	refundSagaName  = "refund"
	stepCancel      = "cancel"
	// stepRollbackOrder follows a full manual refund.
	stepRollbackOrder = "rollback_order"
)

func decodePayload(a saga.Attempt) (sagaPayload, error) {
	var pl sagaPayload
	if err := json.Unmarshal(a.Payload, &pl); err != nil || pl.PaymentID == "" {
		return pl, saga.Permanent(fmt.Errorf("paygate: saga %s: bad payload: %v", a.SagaID, err))
	}
	return pl, nil
}

// sagaPayment reads a step's payload and the payment it is about.
func (p *Paygate) sagaPayment(ctx context.Context, a saga.Attempt) (sagaPayload, *store.Payment, error) {
	pl, err := decodePayload(a)
	if err != nil {
		return pl, nil, err
	}
	if pay := takeKnownPayment(ctx, pl.PaymentID); pay != nil {
		return pl, pay, nil
	}
	if c, _ := a.Carried.(*carriedPayment); c != nil && c.pay != nil && c.pay.ID == pl.PaymentID {
		cp := *c.pay
		return pl, &cp, nil
	}
	pay, err := p.db.PaymentByID(ctx, pl.PaymentID)
	return pl, pay, err
}

// fresh carries, on the context of the step Approve runs inline, the
// payment and checkout Approve has just written and read, so that step
// does not read them again. The payment is taken once: the first step that
// asks for it gets it, later ones read the row. A stale copy can do no
// harm — the step's writes are compare-and-set on the payment's version,
// and fall back to reading it under its lock (applyKnown) — but the one
// taken here is the row as committed, leased to this caller.
type fresh struct {
	pay      atomic.Pointer[store.Payment]
	checkout *store.Checkout
	// applied is the payment as the approve step's commit wrote it: the
	// approval, the decline or the unknown outcome.
	applied atomic.Pointer[store.Payment]
}

type freshKey struct{}

// carriedPayment is a step's saga.Result.Carry: the payment as the step's
// commit wrote it, for the step the runner calls next. Like fresh's, a
// stale copy does no harm (writes are compare-and-set on its version).
type carriedPayment struct{ pay *store.Payment }

func withFresh(ctx context.Context, pay *store.Payment, c *store.Checkout) (context.Context, *fresh) {
	f := &fresh{checkout: c}
	cp := *pay
	f.pay.Store(&cp)
	return context.WithValue(ctx, freshKey{}, f), f
}

func takeKnownPayment(ctx context.Context, id string) *store.Payment {
	f, _ := ctx.Value(freshKey{}).(*fresh)
	if f == nil {
		return nil
	}
	pay := f.pay.Load()
	if pay == nil || pay.ID != id || !f.pay.CompareAndSwap(pay, nil) {
		return nil
	}
	return pay
}

// forgetApplied, at the start of every run of the approve step's commit,
// clears what an earlier run noted: a run that fails (and whose step is
// then recorded without its commit) leaves nothing for Approve to answer
// with.
func forgetApplied(ctx context.Context) {
	if f, _ := ctx.Value(freshKey{}).(*fresh); f != nil {
		f.applied.Store(nil)
	}
}

// noteApplied keeps, on the context of the step Approve runs inline, the
// payment as the step's commit left it. Every run of the commit forgets it
// first and notes it again when it succeeds, so after the step's write
// committed it holds what that write's commit wrote.
func noteApplied(ctx context.Context, pay *store.Payment) {
	if f, _ := ctx.Value(freshKey{}).(*fresh); f != nil && pay != nil {
		cp := *pay
		f.applied.Store(&cp)
	}
}

// knownCheckout is the checkout of orderID Approve read, if ctx carries it.
func knownCheckout(ctx context.Context, orderID string) *store.Checkout {
	if f, _ := ctx.Value(freshKey{}).(*fresh); f != nil && f.checkout != nil && f.checkout.OrderID == orderID {
		return f.checkout
	}
	return nil
}
