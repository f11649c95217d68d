package paygate

import (
	"context"
	"encoding/json"
	"fmt"

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
	pay, err := p.db.PaymentByID(ctx, pl.PaymentID)
	return pl, pay, err
}
