package inicis

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
)

// INIpay Mobile: the window a phone's browser (pg.DeviceMobile) or a shop
// app's web view (pg.DeviceApp) opens. Prepare hands the browser the P_*
// form and the window's address; the buyer authenticates; Inicis posts the
// auth result (P_STATUS, P_TID, P_REQ_URL, P_RMESG1, ...) to P_NEXT_URL;
// its fields go, as they are, into pg.ApproveRequest.Redirect. Approve then
// POSTs P_MID and P_TID to P_REQ_URL — only when it is exactly one of the
// allow-listed mobile approval addresses (Config.IDCs, MobileAuthURL) — and
// reads the key=value text answer. Cancels and lookups go through INIAPI
// exactly as for standard payments.

// isMobileDevice reports whether d is a device the INIpay Mobile window
// serves.
func isMobileDevice(d string) bool {
	return d == string(pg.DeviceMobile) || d == string(pg.DeviceApp)
}

// isMobileRedirect reports whether a redirect is INIpay Mobile's auth
// result rather than the standard window's.
func isMobileRedirect(r map[string]string) bool {
	return r["P_STATUS"] != "" || r["P_TID"] != "" || r["P_REQ_URL"] != ""
}

// mobilePayMethod is a mobile checkout's P_INI_PAYMENT. The mobile window
// opens on one method; a checkout that names none pays by card.
func mobilePayMethod(m pg.Method) (string, error) {
	switch m {
	case "", pg.MethodCard:
		return "CARD", nil
	case pg.MethodVirtualAccount:
		return "VBANK", nil
	case pg.MethodTransfer:
		return "BANK", nil
	case pg.MethodMobilePhone:
		return "MOBILE", nil
	default:
		return "", fmt.Errorf("inicis does not offer method %q in the mobile window", m)
	}
}

// prepareMobile builds the INIpay Mobile form of a checked checkout. Client
// holds the P_* fields the browser posts and, under "actionUrl" (not a form
// field), the window to post them to (Config.MobilePayURL). P_NEXT_URL is
// the success URL, where Inicis posts the auth result; P_RETURN_URL the
// same page, where the buyer comes back from a card or bank app;
// P_NOTI_URL is Config.MobileNotiURL when set. With Config.MobileHashKey the
// form carries P_TIMESTAMP and P_CHKFAKE. An app checkout's P_RESERVED asks
// the window to return to the app (apprun_check=Y, and app_scheme with
// Config.MobileAppScheme). A mobile-phone payment is sent as physical goods
// (P_HPP_METHOD 2); a shop of digital content posts 1 instead. The buyer's
// name (P_UNAME) is the shop's to fill in. Data keeps mid, oid, price,
// timestamp and the device.
func (g *Gateway) prepareMobile(req pg.PrepareRequest, f form) *pg.Prepared {
	ts := formTimestamp(g.cfg.Now())
	client := map[string]string{
		"actionUrl":     g.cfg.MobilePayURL,
		"P_INI_PAYMENT": f.method,
		"P_MID":         g.cfg.MID,
		"P_OID":         req.OrderID,
		"P_AMT":         f.price,
		"P_GOODS":       req.OrderName,
		"P_NEXT_URL":    req.SuccessURL,
		"P_RETURN_URL":  req.SuccessURL,
		"P_CHARSET":     "utf8",
		"P_TIMESTAMP":   ts,
	}
	if g.cfg.MobileHashKey != "" {
		client["P_CHKFAKE"] = mobileChkFake(f.price, req.OrderID, ts, g.cfg.MobileHashKey)
	}
	if g.cfg.MobileNotiURL != "" {
		client["P_NOTI_URL"] = g.cfg.MobileNotiURL
	}
	if f.method == "MOBILE" {
		client["P_HPP_METHOD"] = "2"
	}
	if req.TaxFree.IsSet() && req.TaxFree.IsPositive() {
		client["P_TAXFREE"] = req.TaxFree.Amount().StringFixed(0)
	}
	device := req.Device.OrPC()
	if device == pg.DeviceApp {
		reserved := "apprun_check=Y"
		if g.cfg.MobileAppScheme != "" {
			reserved += "&app_scheme=" + g.cfg.MobileAppScheme
		}
		client["P_RESERVED"] = reserved
	}
	return &pg.Prepared{
		Client: client,
		Data: map[string]string{"mid": g.cfg.MID, "oid": req.OrderID, "price": f.price, "timestamp": ts,
			"device": string(device)},
	}
}

// mobileAuth is a checked INIpay Mobile auth result.
type mobileAuth struct {
	tid    string
	reqURL string // the allow-listed address, never the received string
	amount string // P_AMT when the result carries it
}

// checkMobileRedirect validates the auth result posted to P_NEXT_URL before
// anything is sent anywhere: the buyer authenticated (P_STATUS 00; anything
// else is a decline with Inicis's P_RMESG1), it is for this merchant and
// this order, the checkout was prepared for the mobile window, and P_REQ_URL
// is exactly an allow-listed mobile approval address.
func (g *Gateway) checkMobileRedirect(op string, req pg.ApproveRequest) (mobileAuth, error) {
	r := req.Redirect
	code := strings.TrimSpace(r["P_STATUS"])
	if o := lookupCode(apiMobileAuth, code); !o.ok {
		return mobileAuth{}, fail(op, o.kind, code, firstNonEmpty(decodeText(r["P_RMESG1"]), o.reason), 0, nil)
	}
	if err := checkOID(op, req.OrderID); err != nil {
		return mobileAuth{}, err
	}
	if oid := strings.TrimSpace(r["P_OID"]); oid != "" && oid != req.OrderID {
		return mobileAuth{}, invalid(op, "auth result is for order %q, not %q", oid, req.OrderID)
	}
	if p := req.Prepared["oid"]; p != "" && p != req.OrderID {
		return mobileAuth{}, invalid(op, "checkout was prepared for order %q, not %q", p, req.OrderID)
	}
	if len(req.Prepared) > 0 && !isMobileDevice(req.Prepared["device"]) {
		return mobileAuth{}, invalid(op, "checkout was prepared for the standard (PC) window, not INIpay Mobile")
	}
	if mid := strings.TrimSpace(r["P_MID"]); mid != "" && mid != g.cfg.MID {
		return mobileAuth{}, invalid(op, "auth result is for merchant %q, not %q", mid, g.cfg.MID)
	}
	a := mobileAuth{tid: strings.TrimSpace(r["P_TID"]), amount: strings.TrimSpace(r["P_AMT"])}
	if err := checkTID(op, a.tid); err != nil {
		return mobileAuth{}, err
	}
	var err error
	if a.reqURL, err = g.allowListed(op, "P_REQ_URL", r["P_REQ_URL"], false, "", func(ep Endpoints) string { return ep.MobileAuthURL }); err != nil {
		return mobileAuth{}, err
	}
	return a, nil
}

// approveMobile approves an INIpay Mobile payment: it checks the auth
// result (checkMobileRedirect) and the amount, POSTs P_MID and P_TID to the
// allow-listed P_REQ_URL, and reads the answer (parseMobileApproval). An
// answer that carries P_CHKFAKE must match it (Config.MobileHashKey), and
// the answer must be for this tid, order, amount and merchant; if not, the
// payment Inicis approved is refunded at once through INIAPI (the mobile
// window has no net cancel) and Approve fails with CHKFAKE_MISMATCH or
// APPROVAL_MISMATCH: KindDeclined once the refund went through, KindUnknown
// if it did not (the flow then asks INIAPI what happened). A mismatch is
// never returned as approved.
func (g *Gateway) approveMobile(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	const op = "approve"
	auth, err := g.checkMobileRedirect(op, req)
	if err != nil {
		return nil, err
	}
	price, err := approvalPrice(op, req)
	if err != nil {
		return nil, err
	}
	if auth.amount != "" && auth.amount != price {
		return nil, invalid(op, "auth result is for %s won, not %s", auth.amount, price)
	}
	body := url.Values{"P_MID": {g.cfg.MID}, "P_TID": {auth.tid}}.Encode()
	status, raw, err := g.post(ctx, op, auth.reqURL, formContentType, []byte(body), false)
	if err != nil {
		return nil, err
	}
	p, answer, err := parseMobileApproval(status, raw)
	if err != nil {
		g.log.WarnContext(ctx, "inicis: mobile approval failed", "orderId", req.OrderID, "err", err)
		return nil, err
	}
	if !g.mobileSigned(answer, req.Prepared) {
		err := g.undoMobile(ctx, req, auth.tid, "CHKFAKE_MISMATCH", "the approval answer's P_CHKFAKE does not match")
		g.log.ErrorContext(ctx, "inicis: mobile approval answer's P_CHKFAKE does not match: forged or tampered answer, refunded",
			"orderId", req.OrderID, "tid", auth.tid, "refunded", pg.KindOf(err) == pg.KindDeclined)
		return nil, err
	}
	mismatch := checkApproved(p, req, g.cfg.MID)
	if mismatch == "" && p.PaymentKey != auth.tid {
		mismatch = fmt.Sprintf("approved tid %q, not %q", p.PaymentKey, auth.tid)
	}
	if mismatch != "" {
		err := g.undoMobile(ctx, req, auth.tid, "APPROVAL_MISMATCH", mismatch)
		g.log.ErrorContext(ctx, "inicis: mobile approval differs from the request, refunded",
			"orderId", req.OrderID, "tid", auth.tid, "reason", mismatch, "refunded", pg.KindOf(err) == pg.KindDeclined)
		return nil, err
	}
	return p, nil
}

// mobileSigned checks an approval answer's P_CHKFAKE: base64(SHA-512(P_AMT
// + P_OID + timestamp + Config.MobileHashKey)) over the answer's own amount
// and order id, with the answer's P_TIMESTAMP or else the checkout's. An
// answer without P_CHKFAKE passes, and so does every answer when no mobile
// hash key is configured (there is nothing to check it with).
func (g *Gateway) mobileSigned(f map[string]string, prepared map[string]string) bool {
	got := f["P_CHKFAKE"]
	if g.cfg.MobileHashKey == "" || got == "" {
		return true
	}
	ts := firstNonEmpty(f["P_TIMESTAMP"], prepared["timestamp"])
	if ts == "" {
		return false
	}
	want := mobileChkFake(f["P_AMT"], f["P_OID"], ts, g.cfg.MobileHashKey)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// undoMobile refunds, through INIAPI, an approval we must not keep, and
// returns the error Approve fails with under code: declined once the refund
// went through, unknown if it did not.
func (g *Gateway) undoMobile(ctx context.Context, req pg.ApproveRequest, tid, code, why string) error {
	const op = "approve"
	_, err := g.Cancel(ctx, pg.CancelRequest{PaymentKey: tid, OrderID: req.OrderID, Reason: "승인 결과 불일치"})
	if err != nil && !errors.Is(err, pg.ErrAlreadyDone) {
		return fail(op, pg.KindUnknown, code, why+"; refund failed", 0, err)
	}
	return fail(op, pg.KindDeclined, code, why+"; refunded", 0, nil)
}

// maxMobileFields caps the fields of a mobile approval answer or
// notification.
const maxMobileFields = 200

// parseMobileText reads INIpay Mobile's key=value&... text (the approval
// answer): EUC-KR or UTF-8, values as they are (Inicis does not
// URL-encode them). A segment that is not name=value belongs to the
// value before it (a message containing "&"). A name given twice, or text
// that does not start with name=value, is refused.
func parseMobileText(body []byte) (map[string]string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty answer")
	}
	text := decodeText(string(body))
	out := map[string]string{}
	last := ""
	for _, seg := range strings.Split(text, "&") {
		name, value, ok := strings.Cut(seg, "=")
		if ok && isMobileFieldName(name) {
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("field %s given twice", name)
			}
			if len(out) >= maxMobileFields {
				return nil, errors.New("too many fields")
			}
			out[name] = strings.TrimSpace(value)
			last = name
			continue
		}
		if last == "" {
			return nil, errors.New("not key=value text")
		}
		out[last] += "&" + strings.TrimRight(seg, " \r\n")
	}
	return out, nil
}

// isMobileFieldName reports whether s can be a field name of Inicis's text
// answers (P_STATUS, P_VACT_NUM, ...).
func isMobileFieldName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseMobileApproval reads the P_REQ_URL answer: P_STATUS "00" with
// P_TID, P_AMT, P_OID, P_TYPE, P_AUTH_DT and, for a virtual account,
// P_VACT_NUM, P_VACT_BANK_CODE, P_VACT_NAME, P_VACT_DATE and P_VACT_TIME.
// A refusal is mapped by the code table (apiMobileApprove); a 200 that
// cannot be read, or an approval whose record makes no sense, may have
// captured money and is KindUnknown.
func parseMobileApproval(status int, body []byte) (*pg.Payment, map[string]string, error) {
	const op = "approve"
	f, err := parseMobileText(body)
	if err != nil || f["P_STATUS"] == "" {
		if status != http.StatusOK {
			return nil, nil, httpFailure(op, status, false)
		}
		return nil, nil, fail(op, pg.KindUnknown, "", "unreadable mobile approval answer", status, err)
	}
	code := f["P_STATUS"]
	if o := lookupCode(apiMobileApprove, code); !o.ok {
		e := fail(op, o.kind, code, firstNonEmpty(f["P_RMESG1"], o.reason), status, nil)
		e.Retryable = o.retryable
		return nil, nil, e
	}
	bad := func(what string, cause error) error {
		return fail(op, pg.KindUnknown, code, "approved, but "+what, status, cause)
	}
	tid := f["P_TID"]
	if tid == "" {
		return nil, nil, bad("no P_TID", nil)
	}
	amount, err := parseWon(f["P_AMT"])
	if err != nil {
		return nil, nil, bad("P_AMT unreadable", err)
	}
	approvedAt, err := parseAuthDT(f["P_AUTH_DT"])
	if err != nil {
		return nil, nil, bad("P_AUTH_DT unreadable", err)
	}
	payType := f["P_TYPE"]
	p := &pg.Payment{
		PG:         Name,
		PaymentKey: tid,
		OrderID:    f["P_OID"],
		Status:     pg.StatusApproved,
		PGStatus:   code,
		Method:     methodOfAnswer(payType, tid, f["P_VACT_NUM"] != ""),
		Amount:     amount,
		Balance:    amount,
		ApprovedAt: approvedAt,
		Data:       map[string]string{"tid": tid, "paymethod": payType, "mid": f["P_MID"]},
	}
	if p.Method == pg.MethodVirtualAccount {
		due, err := parseKST(f["P_VACT_DATE"], f["P_VACT_TIME"])
		if err != nil {
			return nil, nil, bad("P_VACT_DATE/P_VACT_TIME unreadable", err)
		}
		p.Status = pg.StatusWaitingForDeposit
		p.Balance = pg.Won(0)
		p.VirtualAccount = &pg.VirtualAccount{
			Bank:          f["P_VACT_BANK_CODE"],
			AccountNumber: f["P_VACT_NUM"],
			HolderName:    f["P_VACT_NAME"],
			DueDate:       due,
		}
	}
	return p, f, nil
}

// parseAuthDT reads INIpay Mobile's P_AUTH_DT, YYYYMMDDhhmmss in KST;
// empty is the zero time.
func parseAuthDT(s string) (t time.Time, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return t, nil
	}
	if len(s) != 14 {
		return t, fmt.Errorf("bad P_AUTH_DT %q", s)
	}
	return parseKST(s[:8], s[8:])
}
