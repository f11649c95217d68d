package kakaopay

import (
	"context"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// Lookup is KakaoPay's order call by tid: the tid comes from req.PaymentKey
// or from what Prepare stored (req.Prepared). KakaoPay cannot look a payment
// up by our order id alone; without a tid Lookup fails with KindInvalid
// (and without one nothing can have been approved). Before approval the
// status is pg.StatusPending; an unknown tid is KindNotFound.
//
// The answer must be the payment asked about: Payment.OrderID is
// KakaoPay's partner_order_id, a tid that belongs to another order is
// KindInvalid ORDER_MISMATCH, and an answer without partner_order_id (when
// the order is known) is KindUnknown.
func (g *Gateway) Lookup(ctx context.Context, req pg.LookupRequest) (*pg.Payment, error) {
	p, err := g.preparedOf(opLookup, req.PaymentKey, req.OrderID, req.Prepared)
	if err != nil {
		return nil, err
	}
	pay, err := g.lookup(ctx, opLookup, p)
	if err != nil {
		return nil, fmt.Errorf("kakaopay: lookup order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	return pay, nil
}

func (g *Gateway) lookup(ctx context.Context, op string, p prepared) (*pg.Payment, error) {
	var resp orderResponse
	// A lookup changes nothing, so resending it after a timeout is safe.
	if err := g.call(ctx, op, "order", orderRequest{CID: p.cid, CIDSecret: g.cfg.CIDSecret, TID: p.tid}, true, &resp); err != nil {
		return nil, err
	}
	pay, err := paymentFromOrder(resp, op)
	if err != nil {
		return nil, err
	}
	switch {
	case pay.PaymentKey != p.tid:
		return nil, badResponse(op, http.StatusOK, fmt.Sprintf("lookup answered for tid %q", pay.PaymentKey), nil)
	case p.orderID != "" && pay.OrderID == "":
		// An answer that does not say whose payment it is cannot be taken
		// as this order's.
		return nil, badResponse(op, http.StatusOK, "lookup answer without partner_order_id", nil)
	case p.orderID != "" && pay.OrderID != p.orderID:
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: "ORDER_MISMATCH",
			Message: fmt.Sprintf("tid %s belongs to order %q, not %q", p.tid, pay.OrderID, p.orderID)}
	}
	return pay, nil
}
