package tosspay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/paygate/paygate/pg"
)

// CancelIdempotencyKey is the Idempotency-Key of the cancel cancelID.
func CancelIdempotencyKey(cancelID string) string { return idemKey("cancel", cancelID) }

// Cancel refunds the whole balance (req.Amount unset, or equal to
// req.Balance) or part of it: POST /v1/payments/{paymentKey}/cancel with
// cancelReason, cancelAmount for a partial cancel, refundableAmount =
// req.Balance as the guard, taxFreeAmount, refundReceiveAccount, and the
// Idempotency-Key derived from req.CancelID.
func (g *Gateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	const op = "cancel"
	if err := validateCancel(req); err != nil {
		return nil, err
	}
	cj := cancelRequestJSON{CancelReason: req.Reason}
	cur := pg.KRW
	if req.Amount.IsSet() && !req.IsFull() {
		cj.CancelAmount = amountJSON(req.Amount)
		cur = req.Amount.Currency()
	}
	if req.Balance.IsSet() {
		cj.RefundableAmount = amountJSON(req.Balance)
		cur = req.Balance.Currency()
	}
	if req.TaxFree.IsSet() && req.TaxFree.IsPositive() {
		cj.TaxFreeAmount = amountJSON(req.TaxFree)
	}
	if cur != pg.KRW {
		cj.Currency = string(cur)
	}
	if a := req.RefundAccount; a != nil {
		cj.RefundReceiveAccount = &refundAccountJSON{Bank: a.Bank, AccountNumber: a.AccountNumber, HolderName: a.HolderName}
	}
	body, err := json.Marshal(cj)
	if err != nil {
		return nil, invalidErr(op, "encode request: "+err.Error())
	}
	path := "/v1/payments/" + url.PathEscape(req.PaymentKey) + "/cancel"
	resp, err := g.send(ctx, g.client, op, http.MethodPost, path, nil, body, CancelIdempotencyKey(req.CancelID))
	if err != nil {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, err)
	}
	p, err := g.paymentOrError(op, resp)
	if err != nil {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, err)
	}
	// The cancel was sent; an answer about another payment says nothing
	// about ours: look it up.
	if p.PaymentKey != req.PaymentKey || (req.OrderID != "" && p.OrderID != req.OrderID) {
		return nil, fmt.Errorf("tosspay: cancel payment %q: %w", req.PaymentKey, &pg.Error{PG: Name, Op: op, Kind: pg.KindUnknown,
			Code: "MISMATCHED_RESPONSE", HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("answer is for payment %q order %q; look the payment up", p.PaymentKey, p.OrderID)})
	}
	return p, nil
}

func validateCancel(req pg.CancelRequest) error {
	const op = "cancel"
	switch {
	case req.CancelID == "":
		return invalidErr(op, "CancelID is required: the Idempotency-Key is derived from it")
	case req.PaymentKey == "":
		return invalidErr(op, "paymentKey is required")
	case len(req.PaymentKey) > 200:
		return invalidErr(op, "paymentKey longer than 200 characters")
	case strings.TrimSpace(req.Reason) == "":
		return invalidErr(op, "cancelReason is required")
	case len([]rune(req.Reason)) > 200:
		return invalidErr(op, "cancelReason longer than 200 characters")
	}
	if req.Amount.IsSet() {
		if err := validateAmount(op, "cancelAmount", req.Amount); err != nil {
			return err
		}
	}
	if req.Balance.IsSet() {
		if err := validateAmount(op, "refundableAmount", req.Balance); err != nil {
			return err
		}
		if req.Amount.IsSet() {
			c, err := req.Amount.Cmp(req.Balance)
			if err != nil {
				return invalidErr(op, "cancelAmount and refundableAmount differ in currency")
			}
			if c > 0 {
				return invalidErr(op, fmt.Sprintf("cancelAmount %s exceeds the refundable balance %s", req.Amount, req.Balance))
			}
		}
	}
	if req.TaxFree.IsSet() && req.Amount.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return invalidErr(op, "taxFreeAmount exceeds cancelAmount")
		}
	}
	if a := req.RefundAccount; a != nil {
		if a.Bank == "" || a.AccountNumber == "" || a.HolderName == "" {
			return invalidErr(op, "refundReceiveAccount needs bank, accountNumber and holderName")
		}
		if len(a.AccountNumber) > 20 || strings.Trim(a.AccountNumber, "0123456789") != "" {
			return invalidErr(op, "refund accountNumber must be at most 20 digits")
		}
		if len([]rune(a.HolderName)) > 60 {
			return invalidErr(op, "refund holderName longer than 60 characters")
		}
	}
	return nil
}
