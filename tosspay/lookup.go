package tosspay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paygate/paygate/pg"
)

// Lookup fetches the payment: GET /v1/payments/{paymentKey}, or
// GET /v1/payments/orders/{orderId} when only the order id is known. A
// payment the buyer authenticated but that was never confirmed is
// pg.StatusPending; one Toss does not know is a pg.KindNotFound error.
//
// The order id may be one made outside a checkout, shorter than a
// checkout's 6 characters (see ValidatePrepare). The answer must be the
// payment asked about: one whose paymentKey or orderId differs from the
// request's is a pg.KindInvalid error with Code "ORDER_MISMATCH", never
// taken as this order's payment. Payment.OrderID is always Toss's.
func (g *Gateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	const op = "lookup"
	var path, what string
	switch {
	case req.PaymentKey != "":
		if len(req.PaymentKey) > 200 {
			return nil, invalidErr(op, "paymentKey longer than 200 characters")
		}
		path, what = "/v1/payments/"+url.PathEscape(req.PaymentKey), "payment "+req.PaymentKey
	case req.OrderID != "":
		if err := validateOrderRef(op, req.OrderID); err != nil {
			return nil, err
		}
		path, what = "/v1/payments/orders/"+url.PathEscape(req.OrderID), "order "+req.OrderID
	default:
		return nil, invalidErr(op, "lookup needs a paymentKey or an orderId")
	}
	resp, err := g.send(ctx, g.client, op, http.MethodGet, path, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, err)
	}
	if (req.PaymentKey != "" && p.PaymentKey != req.PaymentKey) || (req.OrderID != "" && p.OrderID != req.OrderID) {
		return nil, fmt.Errorf("tosspay: look up %s: %w", what, &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid,
			Code: "ORDER_MISMATCH", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("Toss answered with payment %q of order %q, not payment %q of order %q", p.PaymentKey, p.OrderID, req.PaymentKey, req.OrderID)})
	}
	return p, nil
}
