package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/shopspring/decimal"
)

// pgData is what a payment keeps of the PG's answers: the PG's own status,
// the per-payment secret some PGs repeat in webhooks, and adapter data later
// calls need (merged into Prepared).
type pgData struct {
	PGStatus string            `json:"pgStatus,omitempty"`
	Secret   string            `json:"secret,omitempty"`
	Data     map[string]string `json:"data,omitempty"`
}

// paymentChange is one step of the payment state machine: it moves the
// locked payment (its status through pg.CheckTransition, its amounts and PG
// data) and names the events the move records. It reports false when the
// payment has already moved past it (a late or repeated report), and then
// nothing is written. apply runs it in the transaction that writes the
// payment and its events together.
type paymentChange func(pay *store.Payment) (changed bool, events []eventSpec, err error)

// apply locks the payment in tx, lets change modify it, and writes it with
// the events change asks for. change returns false when there is nothing to
// do (the payment already moved on): then nothing is written. Every status
// change goes through pg.CheckTransition.
func (p *Paygate) apply(ctx context.Context, tx *sql.Tx, paymentID string, change paymentChange) (*store.Payment, error) {
	pay, err := p.db.LockPayment(ctx, tx, paymentID)
	if err != nil {
		return nil, err
	}
	orig := *pay
	before := pay.Status
	version := pay.Version
	changed, events, err := change(pay)
	if err != nil || !changed {
		return pay, err
	}
	if pay.Status != before {
		if err := pg.CheckTransition(before, pay.Status); err != nil {
			return nil, fmt.Errorf("paygate: payment %s: %w", pay.ID, err)
		}
	}
	// The row is locked already: a change that only records events has
	// nothing to write.
	if !pay.SameStored(&orig) {
		if err := p.db.UpdatePayment(ctx, tx, pay, version); err != nil {
			return nil, err
		}
	}
	if err := p.record(ctx, tx, pay, events...); err != nil {
		return nil, err
	}
	return pay, nil
}

// applyKnown is apply for a caller that holds the payment as it read it
// (known): change runs on a copy and the write is a compare-and-set on
// known's version, so the row is not read again. When anything but a clean
// write follows from known — the payment was written since it was read, or
// change finds nothing to do or refuses — it does what apply does, on the
// row as it is under its lock. change must therefore be pure (no database
// work): it may run twice.
func (p *Paygate) applyKnown(ctx context.Context, tx *sql.Tx, known *store.Payment, change paymentChange) (*store.Payment, error) {
	if known == nil {
		return nil, errors.New("paygate: applyKnown without a payment")
	}
	pay := *known
	before, version := pay.Status, pay.Version
	changed, events, err := change(&pay)
	if err != nil || !changed || (pay.Status != before && pg.CheckTransition(before, pay.Status) != nil) {
		return p.apply(ctx, tx, known.ID, change)
	}
	// Nothing of the payment is read after this write in tx, so in a group
	// commit it joins the group's one statement of payment updates (a
	// version that moved then fails the group, and the write runs alone).
	// A change that only records events (an order created) holds the row
	// instead of rewriting it unchanged.
	write := p.db.UpdatePaymentDeferred
	if pay.SameStored(known) {
		write = func(ctx context.Context, tx *sql.Tx, pay *store.Payment, version int64) error {
			return p.db.HoldPaymentDeferred(ctx, tx, pay.ID, version)
		}
	}
	if err := write(ctx, tx, &pay, version); errors.Is(err, store.ErrConflict) {
		return p.apply(ctx, tx, known.ID, change)
	} else if err != nil {
		return nil, err
	}
	if err := p.record(ctx, tx, &pay, events...); err != nil {
		return nil, err
	}
	return &pay, nil
}

// approvedChange moves a payment to what the PG reports for it (approved, a
// virtual account waiting for its deposit, or already canceled at the PG),
// recording what the PG said. It is a no-op when the payment is already
// there or past it.
func (p *Paygate) approvedChange(res *pg.Payment) paymentChange {
	return func(pay *store.Payment) (bool, []eventSpec, error) {
		target := res.Status
		switch target {
		case pg.StatusApproved, pg.StatusWaitingForDeposit, pg.StatusPartialCanceled, pg.StatusCanceled:
		default:
			return false, nil, fmt.Errorf("paygate: approval reported as %s", target)
		}
		if target == pg.StatusPartialCanceled || target == pg.StatusCanceled {
			// Canceled at the PG before we recorded the approval: record the
			// approval now; the cancels are synced from the PG's view.
			target = pg.StatusApproved
		}
		if !pg.CanTransition(pay.Status, target) {
			// Already recorded (a notification got here first): keep what
			// this answer adds, such as the secret later notifications are
			// verified by.
			return setPGData(pay, res), nil, nil
		}
		setPGData(pay, res)
		pay.Status = target
		if target == pg.StatusWaitingForDeposit {
			return true, nil, nil
		}
		approved := res.Amount
		if !approved.IsSet() {
			approved = pay.Amount
		}
		pay.ApprovedAmount = approved
		if pay.CanceledAmount.IsSet() && pay.CanceledAmount.Currency() != approved.Currency() {
			pay.CanceledAmount = pg.Money{}
		}
		pay.ApprovedAt = res.ApprovedAt.UTC()
		if pay.ApprovedAt.IsZero() {
			pay.ApprovedAt = p.now()
		}
		pay.FailureCode, pay.FailureMessage = "", ""
		ev := eventSpec{typ: EventPaymentApproved, amount: approved.Amount().String(), data: map[string]string{"paymentKey": pay.PaymentKey}}
		if !approved.Equal(pay.Amount) {
			ev.reason = "AMOUNT_MISMATCH"
		}
		return true, []eventSpec{ev}, nil
	}
}

// setPGData records on the payment what the PG's view adds — its key,
// method, status, secret and adapter data — and reports whether anything
// changed.
func setPGData(pay *store.Payment, res *pg.Payment) bool {
	changed := false
	if res.PaymentKey != "" && pay.PaymentKey != res.PaymentKey {
		pay.PaymentKey, changed = res.PaymentKey, true
	}
	if res.Method != "" && pay.Method != string(res.Method) {
		pay.Method, changed = string(res.Method), true
	}
	var d pgData
	if len(pay.PGData) > 0 {
		_ = json.Unmarshal(pay.PGData, &d)
	}
	if res.PGStatus != "" && d.PGStatus != res.PGStatus {
		d.PGStatus, changed = res.PGStatus, true
	}
	if res.Secret != "" && d.Secret != res.Secret {
		d.Secret, changed = res.Secret, true
	}
	for k, v := range res.Data {
		if d.Data[k] != v {
			if d.Data == nil {
				d.Data = map[string]string{}
			}
			d.Data[k], changed = v, true
		}
	}
	if !changed {
		return false
	}
	if raw, err := json.Marshal(d); err == nil {
		pay.PGData = raw
	}
	return true
}

// failedChange marks a payment FAILED and releases the order so the buyer
// can pay again.
func (p *Paygate) failedChange(ctx context.Context, tx *sql.Tx, status pg.Status, code, message string) paymentChange {
	return func(pay *store.Payment) (bool, []eventSpec, error) {
		if !pg.CanTransition(pay.Status, status) {
			return false, nil, nil
		}
		pay.Status = status
		pay.FailureCode = truncate(code, 128)
		pay.FailureMessage = truncate(message, 1024)
		if err := p.db.ReleaseOrder(ctx, tx, pay.OrderID, pay.ID); err != nil && !errors.Is(err, store.ErrConflict) {
			return false, nil, err
		}
		return true, []eventSpec{{typ: EventPaymentFailed, reason: pay.FailureCode}}, nil
	}
}

// unknownChange marks an approval whose outcome is unknown.
func unknownChange(err error) paymentChange {
	return func(pay *store.Payment) (bool, []eventSpec, error) {
		if pay.Status != pg.StatusApproving {
			return false, nil, nil
		}
		pay.Status = pg.StatusUnknown
		return true, []eventSpec{{typ: EventPaymentUnknown, reason: truncate(errCode(err), 128)}}, nil
	}
}

// zeroOf is no money in m's currency.
func zeroOf(m pg.Money) pg.Money {
	z, err := pg.NewMoney(decimal.Zero, m.Currency())
	if err != nil {
		return pg.Money{}
	}
	return z
}

// balance is what can still be refunded.
func balance(pay *store.Payment) (pg.Money, error) {
	if !pay.ApprovedAmount.IsSet() {
		return zeroOf(pay.Amount), nil
	}
	if !pay.CanceledAmount.IsSet() {
		return pay.ApprovedAmount, nil
	}
	return pay.ApprovedAmount.Sub(pay.CanceledAmount)
}
