package kakaopay

import (
	"fmt"
	"net/http"

	"github.com/paygate/paygate/pg"
)

// The answers are normalised into pg.Payment here. A success answer missing
// what the money depends on (tid, amounts, a documented status) is a
// KindUnknown error: the call went through and its effect must be looked up,
// not guessed.

func dataOf(tid, cid, orderID, userID string) map[string]string {
	return map[string]string{DataTID: tid, DataCID: cid, DataPartnerOrderID: orderID, DataPartnerUserID: userID}
}

func paymentFromApprove(r approveResponse) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(opApprove, http.StatusOK, "approval answer without tid", nil)
	}
	if !r.Amount.Total.IsSet() {
		return nil, badResponse(opApprove, http.StatusOK, "approval answer without amount.total", nil)
	}
	data := dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID)
	data[DataAID] = r.AID
	return &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: pg.StatusApproved, PGStatus: statusSuccessPayment,
		Method: methodOf(r.PaymentMethodType),
		Amount: r.Amount.Total.Money, Balance: r.Amount.Total.Money,
		ApprovedAt: r.ApprovedAt.Time,
		Data:       data,
	}, nil
}

// paymentFromOrder normalises an order lookup. Cancels lists every cancel
// in payment_action_details, with the action's payload as Reason (Cancel
// sends the CancelID there; KakaoPay keeps no cancel reason).
//
// Entries of payment_action_details may lack amount (seen live). Such an
// entry never fails the lookup: the payment's amount and balance come from
// amount and cancel_available_amount, not from the entries. A cancel
// without an amount gets the one that the canceled total leaves for it
// when it is the only such cancel; otherwise it is left out of Cancels,
// which lists only cancels whose amount is known.
func paymentFromOrder(r orderResponse, op string) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(op, http.StatusOK, "lookup answer without tid", nil)
	}
	status, ok := mapStatus(r.Status)
	if !ok {
		return nil, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown, Code: "UNKNOWN_STATUS", HTTPStatus: http.StatusOK,
			Message: fmt.Sprintf("KakaoPay status %q is not documented", r.Status)}
	}
	p := &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: status, PGStatus: r.Status,
		Method:     methodOf(r.PaymentMethodType),
		Amount:     r.Amount.Total.Money,
		ApprovedAt: r.ApprovedAt.Time,
		Data:       dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID),
	}
	for _, a := range r.PaymentActionDetails {
		if a.PaymentActionType != "CANCEL" {
			continue
		}
		p.Cancels = append(p.Cancels, pg.CancelRecord{
			TransactionKey: a.AID, Amount: a.Amount.Money, Reason: a.Payload, CanceledAt: a.ApprovedAt.Time,
		})
	}
	if !status.Captured() && status != pg.StatusCanceled {
		p.Balance = r.CancelAvailableAmount.Total.Money
		p.Cancels = withoutUnknownAmounts(p.Cancels)
		return p, nil
	}
	// Money moved: the amounts must add up.
	if !p.Amount.IsSet() {
		return nil, badResponse(op, http.StatusOK, "lookup answer without amount.total for status "+r.Status, nil)
	}
	p.Balance = r.CancelAvailableAmount.Total.Money
	if !p.Balance.IsSet() {
		// Older answers omit the balance; it is what was not canceled.
		canceled := r.CanceledAmount.Total.Money
		if !canceled.IsSet() {
			canceled = pg.Won(0)
		}
		b, err := p.Amount.Sub(canceled)
		if err != nil {
			return nil, badResponse(op, http.StatusOK, "canceled amount exceeds the amount", err)
		}
		p.Balance = b
	}
	if c, err := p.Balance.Cmp(p.Amount); err != nil || c > 0 {
		return nil, badResponse(op, http.StatusOK, fmt.Sprintf("cancelable %s exceeds the amount %s", p.Balance, p.Amount), err)
	}
	if status == pg.StatusCanceled && !p.Balance.IsZero() {
		return nil, badResponse(op, http.StatusOK, "CANCEL_PAYMENT with a cancelable balance of "+p.Balance.String(), nil)
	}
	canceled, err := p.Amount.Sub(p.Balance)
	if err != nil {
		return nil, badResponse(op, http.StatusOK, "amount minus balance", err)
	}
	p.Cancels = fillMissingCancel(p.Cancels, canceled)
	return p, nil
}

// fillMissingCancel gives the one cancel without an amount what canceled
// (the payment's canceled total) leaves after the others, and drops
// cancels whose amount stays unknown: several without one, or totals that
// do not add up.
func fillMissingCancel(cs []pg.CancelRecord, canceled pg.Money) []pg.CancelRecord {
	missing, rest := -1, canceled
	for i, c := range cs {
		if !c.Amount.IsSet() {
			if missing >= 0 {
				return withoutUnknownAmounts(cs)
			}
			missing = i
			continue
		}
		var err error
		if rest, err = rest.Sub(c.Amount); err != nil {
			return withoutUnknownAmounts(cs)
		}
	}
	if missing >= 0 && rest.IsPositive() {
		cs[missing].Amount = rest
	}
	return withoutUnknownAmounts(cs)
}

func withoutUnknownAmounts(cs []pg.CancelRecord) []pg.CancelRecord {
	out := cs[:0]
	for _, c := range cs {
		if c.Amount.IsSet() {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// paymentFromCancel normalises a cancel answer. Cancels holds the cancel just
// applied; the full history is in Lookup.
func paymentFromCancel(r cancelResponse) (*pg.Payment, error) {
	if r.TID == "" {
		return nil, badResponse(opCancel, http.StatusOK, "cancel answer without tid", nil)
	}
	status, ok := mapStatus(r.Status)
	if !ok || (status != pg.StatusPartialCanceled && status != pg.StatusCanceled) {
		return nil, badResponse(opCancel, http.StatusOK, fmt.Sprintf("cancel answered with status %q", r.Status), nil)
	}
	amount, balance, canceled := r.Amount.Total.Money, r.CancelAvailableAmount.Total.Money, r.ApprovedCancelAmount.Total.Money
	if !amount.IsSet() || !balance.IsSet() || !canceled.IsSet() {
		return nil, badResponse(opCancel, http.StatusOK, "cancel answer without amount, approved_cancel_amount or cancel_available_amount", nil)
	}
	if c, err := balance.Cmp(amount); err != nil || c > 0 {
		return nil, badResponse(opCancel, http.StatusOK, fmt.Sprintf("cancelable %s exceeds the amount %s", balance, amount), err)
	}
	data := dataOf(r.TID, r.CID, r.PartnerOrderID, r.PartnerUserID)
	return &pg.Payment{
		PG: Name, PaymentKey: r.TID, OrderID: r.PartnerOrderID,
		Status: status, PGStatus: r.Status,
		Method: methodOf(r.PaymentMethodType),
		Amount: amount, Balance: balance,
		ApprovedAt: r.ApprovedAt.Time,
		Cancels: []pg.CancelRecord{{
			TransactionKey: r.AID, Amount: canceled, Reason: r.Payload, CanceledAt: r.CanceledAt.Time,
		}},
		Data: data,
	}, nil
}
