package tosspay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// ApproveIdempotencyKey is the Idempotency-Key a confirm of paymentID
// carries: stable across resends and restarts, one per payment attempt (a
// key is scoped to the confirm URL, so a key per order attempt is what keeps
// two payments from replaying each other's result).
func ApproveIdempotencyKey(paymentID string) string { return idemKey("approve", paymentID) }

// Approve confirms the payment the buyer authenticated:
// POST /v1/payments/confirm {paymentKey, orderId, amount}, with the
// Idempotency-Key derived from req.PaymentID.
func (g *Gateway) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	const op = "approve"
	if err := validateApprove(req); err != nil {
		return nil, err
	}
	body, err := json.Marshal(confirmJSON{PaymentKey: req.PaymentKey, OrderID: req.OrderID, Amount: amountJSON(req.Amount)})
	if err != nil {
		return nil, invalidErr(op, "encode request: "+err.Error())
	}
	resp, err := g.send(ctx, g.client, op, http.MethodPost, "/v1/payments/confirm", nil, body, ApproveIdempotencyKey(req.PaymentID))
	if err != nil {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, err)
	}
	// A replayed answer for another payment means the key was reused: never
	// take someone else's result as ours.
	if p.OrderID != req.OrderID || (p.PaymentKey != "" && p.PaymentKey != req.PaymentKey) {
		return nil, fmt.Errorf("tosspay: confirm order %q: %w", req.OrderID, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown,
			Code: "MISMATCHED_RESPONSE", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("answer is for order %q payment %q; look the payment up", p.OrderID, p.PaymentKey)})
	}
	return p, nil
}

func validateApprove(req pg.ApproveRequest) error {
	const op = "approve"
	switch {
	case req.PaymentID == "":
		return invalidErr(op, "PaymentID is required: the Idempotency-Key is derived from it")
	case req.PaymentKey == "":
		return invalidErr(op, "paymentKey is required")
	case len(req.PaymentKey) > 200:
		return invalidErr(op, "paymentKey longer than 200 characters")
	}
	if err := validateOrderID(op, req.OrderID); err != nil {
		return err
	}
	return validateAmount(op, "amount", req.Amount)
}

func validateOrderID(op, id string) error {
	if len(id) < 6 || len(id) > 64 {
		return invalidErr(op, fmt.Sprintf("orderId must be 6 to 64 characters, got %d", len(id)))
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return invalidErr(op, "orderId may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}
