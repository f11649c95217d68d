package kakaopay

import (
	"context"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// RedirectPGToken is the key of ApproveRequest.Redirect holding the pg_token
// KakaoPay appended to approval_url.
const RedirectPGToken = "pg_token"

// Approve captures the payment with the tid and partner ids from Prepare and
// the pg_token from the redirect. It sends req.Amount as total_amount
// (current API), so KakaoPay refuses an approval for any other amount, and
// req.PaymentID as payload, which KakaoPay keeps with the approval.
//
// KakaoPay has no idempotency key, so Approve is sent once: a timeout, a
// reset, a 5xx or an unrecognised refusal is a KindUnknown error, resolved by
// Lookup. A second approval of the same tid is refused (KindAlreadyDone).
func (g *Gateway) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	const op = opApprove
	p, err := g.preparedOf(op, req.PaymentKey, req.OrderID, req.Prepared)
	if err != nil {
		return nil, err
	}
	if p.orderID == "" || p.userID == "" {
		return nil, invalid(op, "partner_order_id and partner_user_id from Prepare are required")
	}
	token := req.Redirect[RedirectPGToken]
	if token == "" {
		return nil, invalid(op, "the redirect carried no pg_token")
	}
	total, err := krw(op, "amount", req.Amount)
	if err != nil {
		return nil, err
	}
	r := approveRequest{
		CID: p.cid, CIDSecret: g.cfg.CIDSecret, TID: p.tid,
		PartnerOrderID: p.orderID, PartnerUserID: p.userID,
		PGToken: token, Payload: truncate(req.PaymentID, 200),
	}
	if !g.cfg.Legacy {
		r.TotalAmount = total
	}
	var resp approveResponse
	if err := g.call(ctx, op, "approve", r, false, &resp); err != nil {
		return nil, fmt.Errorf("kakaopay: approve order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	pay, err := paymentFromApprove(resp)
	if err != nil {
		return nil, fmt.Errorf("kakaopay: approve order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	// KakaoPay answered for this tid and order with this amount, or the
	// approval is not the one we asked for and must be looked up.
	switch {
	case pay.PaymentKey != p.tid || pay.OrderID != p.orderID:
		err = badResponse(op, http.StatusOK, fmt.Sprintf("approval answered for tid %q order %q", pay.PaymentKey, pay.OrderID), nil)
	case !pay.Amount.Equal(req.Amount):
		err = &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "AMOUNT_MISMATCH", HTTPStatus: http.StatusOK,
			Message: fmt.Sprintf("KakaoPay approved %s, the order is %s", pay.Amount, req.Amount)}
	}
	if err != nil {
		return nil, fmt.Errorf("kakaopay: approve order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	return pay, nil
}
