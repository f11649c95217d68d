package kakaopay

import (
	"context"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// Cancel refunds req.Amount, or the whole cancelable balance when it is
// unset. req.Balance is sent as cancel_available_amount, KakaoPay's balance
// guard: a partial cancel retried after an unknown outcome is refused
// (KindAlreadyDone, look it up) instead of applied twice. A full cancel
// without a known balance looks the balance up first and guards with it.
// Without a guard, a cancel above what is left is refused as KindInvalid.
// req.CancelID is sent as payload and comes back in Lookup as the cancel's
// Reason, so a cancel can be recognised after an unknown outcome.
//
// Like Approve, Cancel is sent once; KindUnknown means look it up.
func (g *Gateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	const op = opCancel
	p, err := g.preparedOf(op, req.PaymentKey, req.OrderID, req.Prepared)
	if err != nil {
		return nil, err
	}
	var guard *int64
	if req.Balance.IsSet() {
		if req.Balance.Currency() != pg.KRW {
			return nil, invalid(op, "balance must be KRW, got %s", req.Balance.Currency())
		}
		b := req.Balance.Int64()
		guard = &b
	}
	var amount int64
	switch {
	case req.Amount.IsSet():
		if amount, err = krw(op, "cancel amount", req.Amount); err != nil {
			return nil, err
		}
		if guard != nil && amount > *guard {
			return nil, invalid(op, "cancel amount %s exceeds the balance %s", req.Amount, req.Balance)
		}
	case guard != nil:
		amount = *guard
	default:
		cur, err := g.lookup(ctx, op, p)
		if err != nil {
			return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): balance: %w", p.orderID, p.tid, err)
		}
		switch {
		case cur.Status == pg.StatusCanceled:
			return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid,
				&pg.Error{PG: Name, Op: op, Kind: pg.KindAlreadyDone, Code: cur.PGStatus, Message: "payment already canceled"})
		case !cur.Status.Captured() || !cur.Balance.IsSet():
			return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid,
				&pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: cur.PGStatus, Message: "payment is not cancelable in status " + cur.PGStatus})
		}
		amount = cur.Balance.Int64()
		guard = &amount
	}
	if amount == 0 {
		return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid,
			&pg.Error{PG: Name, Op: op, Kind: pg.KindAlreadyDone, Message: "nothing left to cancel"})
	}
	taxFree, err := optionalKRW(op, "tax-free amount", req.TaxFree, amount)
	if err != nil {
		return nil, err
	}
	r := cancelRequest{
		CID: p.cid, CIDSecret: g.cfg.CIDSecret, TID: p.tid,
		CancelAmount: amount, CancelTaxFreeAmount: taxFree,
		CancelAvailableAmount: guard, Payload: truncate(req.CancelID, 200),
	}
	var resp cancelResponse
	if err := g.call(ctx, op, "cancel", r, false, &resp); err != nil {
		if guard == nil {
			err = unguardedOverCancel(err)
		}
		return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	pay, err := paymentFromCancel(resp)
	switch {
	case err != nil:
	case pay.PaymentKey != p.tid:
		err = badResponse(op, http.StatusOK, fmt.Sprintf("cancel answered for tid %q", pay.PaymentKey), nil)
	case pay.OrderID != "" && p.orderID != "" && pay.OrderID != p.orderID:
		err = badResponse(op, http.StatusOK, fmt.Sprintf("cancel of tid %s answered for order %q", p.tid, pay.OrderID), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	return pay, nil
}
