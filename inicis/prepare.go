package inicis

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// Limits of the standard payment form, as Inicis counts them.
const (
	// maxOIDLen is the longest order id (oid), in bytes.
	maxOIDLen = 40
	// maxGoodnameLen is the longest order name (goodname), in bytes of
	// Inicis's legacy encoding (EUC-KR): one per ASCII character, two per
	// Korean (or any other) character.
	maxGoodnameLen = 40
)

// Codes of the errors ValidatePrepare (and Prepare) return, one per field of
// the payment form.
const (
	CodeInvalidOID         = "INVALID_OID"
	CodeInvalidPrice       = "INVALID_PRICE"
	CodeInvalidTaxFree     = "INVALID_TAXFREE"
	CodeInvalidGoodname    = "INVALID_GOODNAME"
	CodeInvalidReturnURL   = "INVALID_RETURN_URL"
	CodeInvalidCloseURL    = "INVALID_CLOSE_URL"
	CodeInvalidGoPayMethod = "INVALID_GOPAYMETHOD"
	// CodeUnsupportedDevice refuses a checkout for a device that is not
	// pg.DevicePC, pg.DeviceMobile or pg.DeviceApp.
	CodeUnsupportedDevice = "UNSUPPORTED_DEVICE"
)

// invalidField is the error for a request field Inicis would refuse.
func invalidField(op, code, format string, args ...any) *pg.Error {
	return fail(op, pg.KindInvalid, code, fmt.Sprintf(format, args...), 0, nil)
}

// checkOID refuses order ids the payment form cannot carry: Inicis takes
// 1 to 40 bytes of letters, digits, '-', '_' and '.' (a space, "&" or "="
// would also change what the signature covers).
func checkOID(op, oid string) error {
	if oid == "" || len(oid) > maxOIDLen {
		return invalidField(op, CodeInvalidOID, "order id (oid) must be 1..%d bytes, got %d", maxOIDLen, len(oid))
	}
	for _, c := range []byte(oid) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return invalidField(op, CodeInvalidOID, "order id (oid) %q has a character other than letters, digits, '-', '_' and '.'", oid)
		}
	}
	return nil
}

// checkGoodname refuses order names the window would refuse or mangle.
func checkGoodname(op, name string) error {
	if name == "" {
		return invalidField(op, CodeInvalidGoodname, "order name (goodname) is required")
	}
	if !utf8.ValidString(name) {
		return invalidField(op, CodeInvalidGoodname, "order name (goodname) is not valid UTF-8")
	}
	n := 0
	for _, r := range name {
		if unicode.IsControl(r) {
			return invalidField(op, CodeInvalidGoodname, "order name (goodname) has control characters")
		}
		if r < utf8.RuneSelf {
			n++
		} else {
			n += 2
		}
	}
	if n > maxGoodnameLen {
		return invalidField(op, CodeInvalidGoodname, "order name (goodname) is %d bytes as Inicis counts them (two per Korean character); at most %d", n, maxGoodnameLen)
	}
	return nil
}

// form is what a checked checkout puts in the payment form.
type form struct {
	price, closeURL, method string
	// mobile: the checkout opens the INIpay Mobile window (method is then
	// its P_INI_PAYMENT).
	mobile bool
}

// checkPrepare is every rule of a checkout: ValidatePrepare and Prepare
// both run it, so they never disagree.
func (g *Gateway) checkPrepare(req pg.PrepareRequest) (form, error) {
	const op = "prepare"
	d := req.Device.OrPC()
	if !d.Valid() {
		return form{}, invalidField(op, CodeUnsupportedDevice, "device %q is not %s, %s or %s", d, pg.DevicePC, pg.DeviceMobile, pg.DeviceApp)
	}
	if err := checkOID(op, req.OrderID); err != nil {
		return form{}, err
	}
	price, err := wonString(req.Amount)
	if err != nil {
		return form{}, invalidField(op, CodeInvalidPrice, "amount (price): %v", err)
	}
	if !req.Amount.IsPositive() {
		return form{}, invalidField(op, CodeInvalidPrice, "amount (price) must be positive, got %s", req.Amount)
	}
	if min := g.Capabilities().MinAmount; min.IsSet() {
		if c, _ := req.Amount.Cmp(min); c < 0 {
			return form{}, invalidField(op, CodeInvalidPrice, "amount (price) %s is below the minimum %s", req.Amount, min)
		}
	}
	if req.TaxFree.IsSet() {
		if c, err := req.TaxFree.Cmp(req.Amount); err != nil || c > 0 {
			return form{}, invalidField(op, CodeInvalidTaxFree, "tax-free part (taxfree) %s must be won within the amount %s", req.TaxFree, req.Amount)
		}
	}
	if err := checkGoodname(op, req.OrderName); err != nil {
		return form{}, err
	}
	if err := checkAbsURL(req.SuccessURL); err != nil {
		return form{}, invalidField(op, CodeInvalidReturnURL, "success URL (returnUrl): %v", err)
	}
	closeURL := req.CancelURL
	if closeURL == "" {
		closeURL = req.FailURL
	}
	if closeURL != "" {
		if err := checkAbsURL(closeURL); err != nil {
			return form{}, invalidField(op, CodeInvalidCloseURL, "cancel URL (closeUrl): %v", err)
		}
	}
	if isMobileDevice(string(d)) {
		method, err := mobilePayMethod(req.Method)
		if err != nil {
			return form{}, invalidField(op, CodeInvalidGoPayMethod, "%v", err)
		}
		return form{price: price, closeURL: closeURL, method: method, mobile: true}, nil
	}
	method, err := goPayMethod(req.Method)
	if err != nil {
		return form{}, invalidField(op, CodeInvalidGoPayMethod, "%v", err)
	}
	return form{price: price, closeURL: closeURL, method: method}, nil
}

// ValidatePrepare refuses a checkout Inicis would refuse, without calling
// Inicis or changing anything (pg.PrepareValidator): an order id (oid) that
// is not 1 to 40 bytes of letters, digits, '-', '_' and '.'; an amount that
// is not positive whole won at or above the minimum; a tax-free part above
// it; an order name (goodname) that is empty, has control characters or is
// longer than 40 bytes as Inicis counts them (two per Korean character); a
// return or close URL that is not absolute http(s); a method the window of
// the device does not offer; a device other than pg.DevicePC,
// pg.DeviceMobile and pg.DeviceApp (CodeUnsupportedDevice). The error is a *pg.Error of kind KindInvalid
// whose Code names the field (CodeInvalidOID, ...). Prepare applies the same
// checks.
func (g *Gateway) ValidatePrepare(req pg.PrepareRequest) error {
	_, err := g.checkPrepare(req)
	return err
}

// Prepare signs the INIpay Standard payment form, or, for pg.DeviceMobile
// and pg.DeviceApp, builds the INIpay Mobile form (see prepareMobile).
// Nothing is sent to Inicis: the browser posts Prepared.Client through
// INIStdPay.js (see LiveStdPayJS) together with the buyer fields the shop
// fills in itself (buyername, buyertel, buyeremail). Prepared.Data keeps
// what Approve, Cancel and Lookup check later (mid, oid, price, timestamp).
// A request ValidatePrepare refuses is refused with the same error.
func (g *Gateway) Prepare(_ context.Context, req pg.PrepareRequest) (*pg.Prepared, error) {
	f, err := g.checkPrepare(req)
	if err != nil {
		return nil, err
	}
	if f.mobile {
		return g.prepareMobile(req, f), nil
	}
	price := f.price
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
	if f.closeURL != "" {
		client["closeUrl"] = f.closeURL
	}
	if f.method != "" {
		client["gopaymethod"] = f.method
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
