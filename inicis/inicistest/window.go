package inicistest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// ErrNotPrepared is returned by Pay for a request the window would refuse.
var ErrNotPrepared = errors.New("inicistest: payment request refused")

// Pay plays the buyer: it opens the payment window for the order with a
// correctly signed form, authenticates by card and returns what Inicis's
// POST to the shop's returnUrl carries. The approval of this payment fails
// as req.Fault says. For pg.DeviceMobile and pg.DeviceApp the window is
// INIpay Mobile's and the result is its auth result (P_STATUS, P_TID,
// P_REQ_URL, P_RMESG1, P_AMT), approved at P_REQ_URL.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req, "Card")
}

// PayVirtualAccount is Pay for a virtual account: the approval issues an
// account (WAITING_FOR_DEPOSIT) and Deposit later pays into it.
func (s *Sandbox) PayVirtualAccount(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req, "VBank")
}

func (s *Sandbox) pay(ctx context.Context, req pgtest.PayRequest, method string) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if err := pgtest.CheckDevice(req.Device, pg.DevicePC, pg.DeviceMobile, pg.DeviceApp); err != nil {
		return pgtest.PayResult{}, err
	}
	if !req.Fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("%w: unknown fault %q", ErrNotPrepared, req.Fault)
	}
	if !validOID(req.OrderID) {
		return pgtest.PayResult{}, fmt.Errorf("%w: order id must be 1..40 bytes of letters, digits, '-', '_' and '.'", ErrNotPrepared)
	}
	if req.Amount.Currency() != pg.KRW || !req.Amount.IsPositive() {
		return pgtest.PayResult{}, fmt.Errorf("%w: amount must be positive won, got %s", ErrNotPrepared, req.Amount)
	}
	if d := req.Device.OrPC(); d != pg.DevicePC {
		return s.authenticateMobile(req.OrderID, req.Amount.Int64(), method, req.Fault, ""), nil
	}
	return s.authenticate(req.OrderID, req.Amount.Int64(), method, req.Fault), nil
}

// validOID is the payment window's rule for an order id: 1 to 40 bytes of
// letters, digits, '-', '_' and '.'.
func validOID(oid string) bool {
	if oid == "" || len(oid) > 40 {
		return false
	}
	for _, c := range []byte(oid) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// goodnameLen is an order name's length as the window counts it: a byte
// per ASCII character, two per other character (EUC-KR).
func goodnameLen(name string) int {
	n := 0
	for _, r := range name {
		if r < 0x80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// authenticate records a buyer authentication and builds the redirect.
func (s *Sandbox) authenticate(oid string, price int64, method string, fault pgtest.Fault) pgtest.PayResult {
	token := randomToken()
	base := s.BaseURL()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &payment{oid: oid, price: price, method: method, fault: fault, token: token,
		authAt: s.cfg.Now(), status: pg.StatusPending}
	s.auths[token] = p
	s.all = append(s.all, p)
	return pgtest.PayResult{Redirect: map[string]string{
		"resultCode":   "0000",
		"resultMsg":    "성공",
		"mid":          s.cfg.MID,
		"orderNumber":  oid,
		"authToken":    token,
		"authUrl":      base + pathPayAuth,
		"netCancelUrl": base + pathNetCancel,
		"idc_name":     s.cfg.IDCName,
		"charset":      "UTF-8",
		"merchantData": "",
	}}
}

// PayForm plays the buyer with the form fields the shop's page posts
// through INIStdPay.js (inicis Prepared.Client). It verifies them the way
// the payment window does: the merchant, the signature, the verification
// and the mKey must match, or the window refuses to open. method is "Card"
// or "VBank" (default "Card").
func (s *Sandbox) PayForm(ctx context.Context, form map[string]string, method string, fault pgtest.Fault) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if err := s.checkForm(form); err != nil {
		return pgtest.PayResult{}, err
	}
	if method == "" {
		method = "Card"
	}
	if method != "Card" && method != "VBank" {
		return pgtest.PayResult{}, fmt.Errorf("%w: method %q is not Card or VBank", ErrNotPrepared, method)
	}
	if !fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("%w: unknown fault %q", ErrNotPrepared, fault)
	}
	price, _ := strconv.ParseInt(form["price"], 10, 64)
	return s.authenticate(form["oid"], price, method, fault), nil
}

func (s *Sandbox) checkForm(f map[string]string) error {
	oid, price, ts := f["oid"], f["price"], f["timestamp"]
	switch {
	case f["mid"] != s.cfg.MID:
		return fmt.Errorf("%w: mid %q is not %q", ErrNotPrepared, f["mid"], s.cfg.MID)
	case !validOID(oid):
		return fmt.Errorf("%w: oid must be 1..40 bytes of letters, digits, '-', '_' and '.'", ErrNotPrepared)
	case f["currency"] != "WON":
		return fmt.Errorf("%w: currency %q is not WON", ErrNotPrepared, f["currency"])
	case f["returnUrl"] == "" || f["goodname"] == "":
		return fmt.Errorf("%w: returnUrl and goodname are required", ErrNotPrepared)
	case goodnameLen(f["goodname"]) > 40:
		return fmt.Errorf("%w: goodname is longer than 40 bytes", ErrNotPrepared)
	}
	if n, ok := wonField(price); !ok || n <= 0 {
		return fmt.Errorf("%w: price %q is not a positive whole won amount", ErrNotPrepared, price)
	}
	if f["signature"] != sha256Hex("oid="+oid+"&price="+price+"&timestamp="+ts) {
		return fmt.Errorf("%w: signature mismatch", ErrNotPrepared)
	}
	if f["verification"] != sha256Hex("oid="+oid+"&price="+price+"&signKey="+s.cfg.SignKey+"&timestamp="+ts) {
		return fmt.Errorf("%w: verification mismatch", ErrNotPrepared)
	}
	if f["mKey"] != sha256Hex(s.cfg.SignKey) {
		return fmt.Errorf("%w: mKey mismatch", ErrNotPrepared)
	}
	return nil
}

// authenticateMobile records a buyer authentication in the INIpay Mobile
// window and builds the auth result it posts to P_NEXT_URL. The P_TID is
// issued here; the payment exists at the PG once P_REQ_URL approves it. ts
// is the form's P_TIMESTAMP ("" when the window was played without a form).
func (s *Sandbox) authenticateMobile(oid string, price int64, method string, fault pgtest.Fault, ts string) pgtest.PayResult {
	base := s.BaseURL()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	prefix := "INIMX_CARD"
	if method == "VBank" {
		prefix = "INIMX_VBNK"
	}
	tid := s.nextTID(prefix, now)
	if ts == "" {
		ts = strconv.FormatInt(now.UnixMilli(), 10)
	}
	p := &payment{oid: oid, price: price, method: method, fault: fault, token: tid,
		authAt: now, status: pg.StatusPending, mobile: true, mobileTS: ts}
	s.auths[tid] = p
	s.all = append(s.all, p)
	return pgtest.PayResult{Redirect: map[string]string{
		"P_STATUS":  "00",
		"P_RMESG1":  "정상처리되었습니다.",
		"P_TID":     tid,
		"P_REQ_URL": base + pathMobileAuth,
		"P_AMT":     strconv.FormatInt(price, 10),
		"P_NOTI":    "",
	}}
}

// PayMobileForm plays the buyer in the INIpay Mobile window with the P_*
// form the shop's page posts (inicis Prepared.Client, without actionUrl).
// It checks the form the way the window does: the merchant, the order id,
// the amount, the order name, P_NEXT_URL, a method the window offers
// (P_INI_PAYMENT CARD or VBANK here) and P_CHKFAKE, which must match
// Config.MobileHashKey. The approval fails as fault says.
func (s *Sandbox) PayMobileForm(ctx context.Context, form map[string]string, fault pgtest.Fault) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	oid, amt, ts := form["P_OID"], form["P_AMT"], form["P_TIMESTAMP"]
	switch {
	case form["P_MID"] != s.cfg.MID:
		return pgtest.PayResult{}, fmt.Errorf("%w: P_MID %q is not %q", ErrNotPrepared, form["P_MID"], s.cfg.MID)
	case !validOID(oid):
		return pgtest.PayResult{}, fmt.Errorf("%w: P_OID must be 1..40 bytes of letters, digits, '-', '_' and '.'", ErrNotPrepared)
	case form["P_NEXT_URL"] == "" || form["P_GOODS"] == "":
		return pgtest.PayResult{}, fmt.Errorf("%w: P_NEXT_URL and P_GOODS are required", ErrNotPrepared)
	case goodnameLen(form["P_GOODS"]) > 40:
		return pgtest.PayResult{}, fmt.Errorf("%w: P_GOODS is longer than 40 bytes", ErrNotPrepared)
	case !fault.Valid():
		return pgtest.PayResult{}, fmt.Errorf("%w: unknown fault %q", ErrNotPrepared, fault)
	}
	price, ok := wonField(amt)
	if !ok || price <= 0 {
		return pgtest.PayResult{}, fmt.Errorf("%w: P_AMT %q is not a positive whole won amount", ErrNotPrepared, amt)
	}
	if ts == "" || form["P_CHKFAKE"] != mobileChkFake(amt, oid, ts, s.cfg.MobileHashKey) {
		return pgtest.PayResult{}, fmt.Errorf("%w: P_CHKFAKE mismatch", ErrNotPrepared)
	}
	method := ""
	switch form["P_INI_PAYMENT"] {
	case "CARD":
		method = "Card"
	case "VBANK":
		method = "VBank"
	default:
		return pgtest.PayResult{}, fmt.Errorf("%w: P_INI_PAYMENT %q is not CARD or VBANK", ErrNotPrepared, form["P_INI_PAYMENT"])
	}
	return s.authenticateMobile(oid, price, method, fault, ts), nil
}

// serveMobileWindow is the INIpay Mobile window (POST /smart/payment/): it
// takes the shop's P_* form as a phone's browser posts it, plays a buyer
// who authenticates (PayMobileForm, no fault), and answers
// {"redirect": {...}} with the auth result Inicis would post to
// P_NEXT_URL. Inicis's own window shows its pages instead.
func (s *Sandbox) serveMobileWindow(w http.ResponseWriter, r *http.Request, body []byte) {
	vals, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", "the window takes the P_* form, form-urlencoded")
		return
	}
	form := map[string]string{}
	for k := range vals {
		if strings.HasPrefix(k, "P_") {
			form[k] = vals.Get(k)
		}
	}
	res, err := s.PayMobileForm(r.Context(), form, pgtest.FaultNone)
	if err != nil {
		pgtest.ControlError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	pgtest.ControlJSON(w, http.StatusOK, map[string]any{"redirect": res.Redirect})
}
