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
		if !a.Amount.IsSet() {
			return nil, badResponse(op, http.StatusOK, "cancel action without amount", nil)
		}
		p.Cancels = append(p.Cancels, pg.CancelRecord{
			TransactionKey: a.AID, Amount: a.Amount.Money, Reason: a.Payload, CanceledAt: a.ApprovedAt.Time,
		})
	}
	if !status.Captured() && status != pg.StatusCanceled {
		p.Balance = r.CancelAvailableAmount.Total.Money
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
	return p, nil
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
