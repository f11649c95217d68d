package inicis

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// Cancel refunds through INIAPI v2. With no amount, or an amount equal to
// the balance of a payment never partially canceled, it is a full refund
// (/v2/pg/refund); otherwise a partial refund (/v2/pg/partialRefund) whose
// confirmPrice is req.Balance minus req.Amount, so Inicis refuses it if the
// balance moved since (an earlier attempt went through): the guard that
// makes a retried partial refund apply once. A partial refund therefore
// needs req.Balance.
//
// INIAPI has no idempotency key. A KindUnknown error means the refund may
// have happened: look the payment up and compare its balance before trying
// again; never resend blindly.
func (g *Gateway) Cancel(ctx context.Context, req pg.CancelRequest) (*pg.Payment, error) {
	const op = "cancel"
	tid := tidOf(req.PaymentKey, req.Prepared)
	if tid == "" {
		if req.OrderID == "" {
			return nil, invalid(op, "payment key (tid) or order id is required")
		}
		found, err := g.Lookup(ctx, pg.LookupRequest{OrderID: req.OrderID, Prepared: req.Prepared})
		if err != nil {
			return nil, fmt.Errorf("inicis: cancel order %q: finding the tid: %w", req.OrderID, err)
		}
		tid = found.PaymentKey
	}
	if err := checkTID(op, tid); err != nil {
		return nil, err
	}
	msg := strings.TrimSpace(req.Reason)
	if msg == "" {
		msg = "취소요청"
	}
	if len(msg) > 100 {
		msg = truncateUTF8(msg, 100)
	}
	acct, err := g.refundAccount(op, req.RefundAccount)
	if err != nil {
		return nil, err
	}
	if req.Method == "" {
		req.Method = methodOf(req.Prepared["paymethod"])
	}
	total := knownTotal(req.Prepared)
	if !req.Amount.IsSet() && req.Balance.IsSet() && total.IsSet() {
		if c, err := req.Balance.Cmp(total); err == nil && c < 0 {
			// The rest of a partially canceled payment: refund it as a
			// partial refund to zero, which keeps the balance guard.
			req.Amount = req.Balance
		}
	}
	full, err := isFullRefund(op, req, total)
	if err != nil {
		return nil, err
	}
	if full {
		f, err := g.callAPI(ctx, op, typeRefund, apiRefund, refundData{
			TID: tid, Msg: msg,
			RefundAcctNum: acct.num, RefundBankCode: acct.bank, RefundAcctName: acct.name,
		})
		if err != nil {
			return nil, err
		}
		return fullRefundPayment(f, tid, req, total)
	}

	price, _ := wonString(req.Amount)
	remain, err := req.Balance.Sub(req.Amount)
	if err != nil {
		return nil, invalid(op, "cancel amount %s exceeds the balance %s", req.Amount, req.Balance)
	}
	taxFree := "0"
	if req.TaxFree.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return nil, invalid(op, "tax-free part %s exceeds the cancel amount %s", req.TaxFree, req.Amount)
		}
		taxFree = req.TaxFree.Amount().StringFixed(0)
	}
	f, err := g.callAPI(ctx, op, typePartialRefund, apiRefund, partialRefundData{
		TID: tid, Msg: msg, Price: price, ConfirmPrice: remain.Amount().StringFixed(0),
		Currency: "WON", Tax: "0", TaxFree: taxFree,
		RefundAcctNum: acct.num, RefundBankCode: acct.bank, RefundAcctName: acct.name,
	})
	if err != nil {
		return nil, err
	}
	return partialRefundPayment(f, tid, req, total, remain)
}

// isFullRefund decides between refund and partialRefund, and refuses what
// cannot be sent safely.
func isFullRefund(op string, req pg.CancelRequest, total pg.Money) (bool, error) {
	if !req.Amount.IsSet() {
		return true, nil
	}
	if _, err := wonString(req.Amount); err != nil || !req.Amount.IsPositive() {
		return false, invalid(op, "cancel amount must be a positive KRW amount, got %s", req.Amount)
	}
	if !req.Balance.IsSet() {
		return false, invalid(op, "a partial cancel needs the balance (confirmPrice guard)")
	}
	if c, err := req.Amount.Cmp(req.Balance); err != nil || c > 0 {
		return false, invalid(op, "cancel amount %s exceeds the balance %s", req.Amount, req.Balance)
	}
	// The whole balance of a never partially canceled payment is a full
	// refund; the rest of a partially canceled one is a partial refund to
	// zero, which keeps the confirmPrice guard.
	return req.Amount.Equal(req.Balance) && total.IsSet() && total.Equal(req.Balance), nil
}

// knownTotal is the approved amount from the stored checkout or payment
// data, if any.
func knownTotal(prepared map[string]string) pg.Money {
	for _, k := range []string{"approvedPrice", "price"} {
		if m, err := parseWon(prepared[k]); err == nil && m.IsPositive() {
			return m
		}
	}
	return pg.Money{}
}

type encAccount struct{ num, bank, name string }

func (g *Gateway) refundAccount(op string, a *pg.RefundAccount) (encAccount, error) {
	if a == nil {
		return encAccount{}, nil
	}
	if a.AccountNumber == "" || a.Bank == "" || a.HolderName == "" {
		return encAccount{}, invalid(op, "refund account needs bank, number and holder")
	}
	num, err := encryptField(g.cfg.APIKey, g.cfg.APIIV, a.AccountNumber)
	if err != nil {
		return encAccount{}, fail(op, pg.KindInvalid, "", "encrypt refund account", 0, err)
	}
	return encAccount{num: num, bank: a.Bank, name: a.HolderName}, nil
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
