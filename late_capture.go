package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// lateCaptureKeyPrefix starts the idempotency key of the automatic refund of
// a payment the PG captured after paygate had written it off.
const lateCaptureKeyPrefix = "late-capture:"

// Failure codes of payments written off after their outcome was looked up:
// the PG showed no approval (until SettleDelay passed) or the payment
// expired. A PG may still capture such a payment later, so the periodic
// sync keeps looking them up.
const (
	codeNotApproved = "NOT_APPROVED"
	codeExpired     = "EXPIRED"
)

// writtenOff reports whether pay was written off after a lookup, or was
// captured late and so still has money to follow.
func writtenOff(pay *store.Payment) bool {
	switch pay.Status {
	case pg.StatusExpired:
		return true
	case pg.StatusFailed:
		return pay.FailureCode == codeNotApproved || pay.FailureCode == codeExpired || lateCaptured(pay)
	}
	return false
}

// capturedAtPG reports whether the PG's view shows the payment captured
// (whatever was refunded since).
func capturedAtPG(res *pg.Payment) bool {
	switch res.Status {
	case pg.StatusApproved, pg.StatusPartialCanceled, pg.StatusCanceled:
		return true
	}
	return false
}

// lateCaptured reports whether a written-off payment (FAILED or EXPIRED)
// was captured at the PG after all: its approved amount is recorded while
// its status stays where the flow left it.
func lateCaptured(pay *store.Payment) bool {
	return (pay.Status == pg.StatusFailed || pay.Status == pg.StatusExpired) &&
		pay.ApprovedAmount.IsSet() && pay.ApprovedAmount.IsPositive()
}

// lateCapture handles the PG reporting as captured a payment that paygate
// holds as FAILED or EXPIRED: an approval that lookups showed unapproved
// until SettleDelay passed and that the PG applied later, or a deposit
// after the account expired. The buyer was charged and the order was
// released (perhaps paid by another payment since), so the capture is
// never adopted: it is recorded as what it is — PAYMENT_LATE_CAPTURED, a
// sale in the ledger — and refunded in full at the PG by a refund saga that
// retries until the PG answers (PAYMENT_REFUNDED, its ledger refund), with
// an alert for the operators. Cancels the PG already shows are recorded
// too. It runs in tx on the locked payment and is idempotent: a second
// report of the same capture changes nothing.
func (p *Paygate) lateCapture(ctx context.Context, tx *sql.Tx, pay *store.Payment, news *pg.Payment) ([]eventSpec, error) {
	if lateCaptured(pay) {
		// Known already: only cancels the PG reports since are news.
		return p.syncCancels(ctx, tx, pay, news)
	}
	captured := news.Amount
	if !captured.IsSet() {
		captured = pay.Amount
	}
	if captured.Currency() != pay.Amount.Currency() || !captured.IsPositive() {
		return nil, fmt.Errorf("paygate: payment %s: the PG reports a capture of %s", pay.ID, captured)
	}
	was := pay.Status
	setPGData(pay, news)
	pay.ApprovedAmount = captured
	pay.CanceledAmount = zeroOf(captured)
	pay.ApprovedAt = news.ApprovedAt.UTC()
	if pay.ApprovedAt.IsZero() {
		pay.ApprovedAt = p.now()
	}
	events := []eventSpec{{
		typ: EventPaymentLateCaptured, amount: captured.Amount().String(), reason: "CAPTURED_AFTER_" + string(was),
		data: map[string]string{"paymentKey": pay.PaymentKey, "writtenOff": pay.FailureCode},
	}}
	synced, err := p.syncCancels(ctx, tx, pay, news)
	if err != nil {
		return nil, err
	}
	events = append(events, synced...)

	bal, err := balance(pay)
	if err != nil {
		return nil, err
	}
	if bal.IsPositive() {
		c := &store.Cancel{
			ID: store.NewCancelID(), PaymentID: pay.ID, IdempotencyKey: lateCaptureKeyPrefix + pay.ID,
			Amount: bal, Reason: "LATE_CAPTURE", Status: store.CancelRequested,
		}
		if err := p.db.InsertCancel(ctx, tx, c); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return nil, fmt.Errorf("paygate: payment %s: late-capture refund exists while the capture was not recorded", pay.ID)
			}
			return nil, err
		}
		raw, err := json.Marshal(sagaPayload{PaymentID: pay.ID, CancelID: c.ID})
		if err != nil {
			return nil, err
		}
		if _, err := p.runner.Start(ctx, tx, p.refundSaga, c.ID, raw); err != nil {
			return nil, err
		}
	}
	p.log.Warn("paygate: the PG captured a payment after it was written off; refunding it",
		"payment", pay.ID, "order", pay.OrderID, "pg", pay.PG, "amount", captured.String(), "was", string(was))
	if p.cfg.OnAlert != nil {
		p.cfg.OnAlert(saga.Alert{
			Definition: refundSagaName, BusinessKey: pay.ID, Step: stepCancel, Op: saga.OpAction,
			Err: fmt.Errorf("paygate: payment %s of order %q was captured at %s after it was written off (%s); it is being refunded",
				pay.ID, pay.OrderID, pay.PG, was),
		})
	}
	return events, nil
}
