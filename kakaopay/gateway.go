package kakaopay

import (
	"context"
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// Prepare is KakaoPay's ready call. It sends the checkout (partner_order_id
// = req.OrderID, partner_user_id = req.CustomerID or, when empty, the order
// id; item_name = req.OrderName or the order id, cut to 100 characters;
// quantity 1; total and tax-free amounts; the three redirect URLs) and
// returns the redirect targets in Client and the tid, cid and partner ids in
// Data, which the flow stores and hands back to Approve, Cancel and Lookup.
//
// Ready charges nothing, so a failed or unknown ready is simply prepared
// again (a new tid).
func (g *Gateway) Prepare(ctx context.Context, req pg.PrepareRequest) (*pg.Prepared, error) {
	r, err := g.readyRequest(req)
	if err != nil {
		return nil, err
	}
	var resp readyResponse
	if err := g.call(ctx, opPrepare, "ready", r, false, &resp); err != nil {
		return nil, fmt.Errorf("kakaopay: ready order %q: %w", req.OrderID, err)
	}
	if resp.TID == "" {
		return nil, fmt.Errorf("kakaopay: ready order %q: %w", req.OrderID, badResponse(opPrepare, http.StatusOK, "ready answer without tid", nil))
	}
	client := map[string]string{}
	for k, v := range map[string]string{
		ClientRedirectPC: resp.NextRedirectPCURL, ClientRedirectMobile: resp.NextRedirectMobileURL,
		ClientRedirectApp: resp.NextRedirectAppURL, ClientAndroidScheme: resp.AndroidAppScheme,
		ClientIOSScheme: resp.IOSAppScheme,
	} {
		if v != "" {
			client[k] = v
		}
	}
	if client[ClientRedirectPC] == "" && client[ClientRedirectMobile] == "" && client[ClientRedirectApp] == "" {
		return nil, fmt.Errorf("kakaopay: ready order %q: %w", req.OrderID, badResponse(opPrepare, http.StatusOK, "ready answer without a redirect URL", nil))
	}
	return &pg.Prepared{
		Client: client,
		Data: map[string]string{
			DataTID: resp.TID, DataCID: r.CID,
			DataPartnerOrderID: r.PartnerOrderID, DataPartnerUserID: r.PartnerUserID,
		},
	}, nil
}

func (g *Gateway) readyRequest(req pg.PrepareRequest) (readyRequest, error) {
	const op = opPrepare
	r := readyRequest{
		CID: g.cfg.CID, CIDSecret: g.cfg.CIDSecret,
		PartnerOrderID: req.OrderID, PartnerUserID: req.CustomerID,
		ItemName: truncate(req.OrderName, 100), Quantity: 1,
		ApprovalURL: req.SuccessURL, CancelURL: req.CancelURL, FailURL: req.FailURL,
	}
	if r.PartnerOrderID == "" {
		return r, invalid(op, "order id is required")
	}
	if runeLen(r.PartnerOrderID) > 100 {
		return r, invalid(op, "order id %q is longer than KakaoPay's 100 characters", r.PartnerOrderID)
	}
	if r.PartnerUserID == "" {
		r.PartnerUserID = r.PartnerOrderID
	}
	if runeLen(r.PartnerUserID) > 100 {
		return r, invalid(op, "customer id is longer than KakaoPay's 100 characters")
	}
	if r.ItemName == "" {
		r.ItemName = truncate(r.PartnerOrderID, 100)
	}
	var err error
	if r.TotalAmount, err = krw(op, "amount", req.Amount); err != nil {
		return r, err
	}
	if r.TaxFreeAmount, err = optionalKRW(op, "tax-free amount", req.TaxFree, r.TotalAmount); err != nil {
		return r, err
	}
	switch req.Method {
	case "", pg.MethodEasyPay:
	case pg.MethodCard, pg.MethodMoney:
		r.PaymentMethodType = string(req.Method)
	default:
		return r, invalid(op, "KakaoPay offers CARD and MONEY, not %q", req.Method)
	}
	for _, u := range []struct {
		dst      *string
		fallback string
		name     string
	}{
		{&r.ApprovalURL, g.cfg.ApprovalURL, "success URL"},
		{&r.CancelURL, g.cfg.CancelURL, "cancel URL"},
		{&r.FailURL, g.cfg.FailURL, "fail URL"},
	} {
		if *u.dst == "" {
			*u.dst = u.fallback
		}
		if *u.dst == "" {
			return r, invalid(op, "%s is required (in the request or Config)", u.name)
		}
		if err := checkRedirectURL(*u.dst); err != nil {
			return r, invalid(op, "%s: %v", u.name, err)
		}
	}
	return r, nil
}

// prepared reads the tid, cid and partner ids Prepare stored. The tid may
// also come as the payment key.
type prepared struct {
	tid, cid, orderID, userID string
}

func (g *Gateway) preparedOf(op, paymentKey, orderID string, data map[string]string) (prepared, error) {
	p := prepared{
		tid: data[DataTID], cid: data[DataCID],
		orderID: data[DataPartnerOrderID], userID: data[DataPartnerUserID],
	}
	switch {
	case p.tid == "":
		p.tid = paymentKey
	case paymentKey != "" && paymentKey != p.tid:
		return p, invalid(op, "payment key %q differs from the prepared tid %q", paymentKey, p.tid)
	}
	if p.tid == "" {
		return p, invalid(op, "the tid is required: KakaoPay finds a payment only by the tid that Prepare stored")
	}
	if p.cid == "" {
		p.cid = g.cfg.CID
	}
	switch {
	case p.orderID == "":
		p.orderID = orderID
	case orderID != "" && orderID != p.orderID:
		return p, invalid(op, "order id %q differs from the prepared partner_order_id %q", orderID, p.orderID)
	}
	return p, nil
}

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
	if err == nil && pay.PaymentKey != p.tid {
		err = badResponse(op, http.StatusOK, fmt.Sprintf("cancel answered for tid %q", pay.PaymentKey), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("kakaopay: cancel order %q (tid %s): %w", p.orderID, p.tid, err)
	}
	return pay, nil
}

// Lookup is KakaoPay's order call by tid: the tid comes from req.PaymentKey
// or from what Prepare stored (req.Prepared). KakaoPay cannot look a payment
// up by our order id alone; without a tid Lookup fails with KindInvalid
// (and without one nothing can have been approved). Before approval the
// status is pg.StatusPending; an unknown tid is KindNotFound.
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
	case p.orderID != "" && pay.OrderID != p.orderID:
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: "ORDER_MISMATCH",
			Message: fmt.Sprintf("tid %s belongs to order %q, not %q", p.tid, pay.OrderID, p.orderID)}
	}
	return pay, nil
}
