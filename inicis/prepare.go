package inicis

import (
	"context"

	"github.com/paygate/paygate/pg"
)

// maxOIDLen is the longest order id (oid) the standard payment takes.
const maxOIDLen = 40

// checkOID refuses order ids the payment form cannot carry: Inicis limits
// oid to 40 bytes, and a "&" or "=" would change what the signature covers.
func checkOID(op, oid string) error {
	if oid == "" || len(oid) > maxOIDLen {
		return invalid(op, "order id must be 1..%d bytes, got %d", maxOIDLen, len(oid))
	}
	for _, c := range []byte(oid) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return invalid(op, "order id %q has a character other than letters, digits, '-', '_' and '.'", oid)
		}
	}
	return nil
}

// Prepare signs the INIpay Standard payment form. Nothing is sent to
// Inicis: the browser posts Prepared.Client through INIStdPay.js (see
// LiveStdPayJS) together with the buyer fields the shop fills in itself
// (buyername, buyertel, buyeremail). Prepared.Data keeps what Approve,
// Cancel and Lookup check later (mid, oid, price, timestamp).
func (g *Gateway) Prepare(_ context.Context, req pg.PrepareRequest) (*pg.Prepared, error) {
	const op = "prepare"
	if err := checkOID(op, req.OrderID); err != nil {
		return nil, err
	}
	price, err := wonString(req.Amount)
	if err != nil {
		return nil, fail(op, pg.KindInvalid, "", err.Error(), 0, err)
	}
	if !req.Amount.IsPositive() {
		return nil, invalid(op, "amount must be positive")
	}
	if c, _ := req.Amount.Cmp(g.Capabilities().MinAmount); c < 0 {
		return nil, invalid(op, "amount %s is below the minimum %s", req.Amount, g.Capabilities().MinAmount)
	}
	if req.TaxFree.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return nil, invalid(op, "tax-free part %s exceeds the amount %s", req.TaxFree, req.Amount)
		}
	}
	if req.OrderName == "" {
		return nil, invalid(op, "order name (goodname) is required")
	}
	if err := checkAbsURL(req.SuccessURL); err != nil {
		return nil, invalid(op, "success URL (returnUrl): %v", err)
	}
	closeURL := req.CancelURL
	if closeURL == "" {
		closeURL = req.FailURL
	}
	if closeURL != "" {
		if err := checkAbsURL(closeURL); err != nil {
			return nil, invalid(op, "cancel URL (closeUrl): %v", err)
		}
	}
	method, err := goPayMethod(req.Method)
	if err != nil {
		return nil, invalid(op, "%v", err)
	}

	ts := formTimestamp(g.cfg.Now())
	client := map[string]string{
		"version":      "1.0",
		"mid":          g.cfg.MID,
		"oid":          req.OrderID,
		"goodname":     req.OrderName,
		"price":        price,
		"currency":     "WON",
		"timestamp":    ts,
		"signature":    formSignature(req.OrderID, price, ts),
		"verification": formVerification(req.OrderID, price, g.cfg.SignKey, ts),
		"mKey":         mKey(g.cfg.SignKey),
		"returnUrl":    req.SuccessURL,
		"charset":      "UTF-8",
	}
	if closeURL != "" {
		client["closeUrl"] = closeURL
	}
	if method != "" {
		client["gopaymethod"] = method
	}
	if g.cfg.AcceptMethod != "" {
		client["acceptmethod"] = g.cfg.AcceptMethod
	}
	if req.TaxFree.IsSet() && req.TaxFree.IsPositive() {
		client["taxfree"] = req.TaxFree.Amount().StringFixed(0)
	}
	return &pg.Prepared{
		Client: client,
		Data:   map[string]string{"mid": g.cfg.MID, "oid": req.OrderID, "price": price, "timestamp": ts},
	}, nil
}
