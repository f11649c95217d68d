package inicis

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/paygate/paygate/pg"
)

// ErrUntrustedURL is wrapped by the error Approve and NetCancel return when
// the redirect's authUrl or netCancelUrl is not the allow-listed address for
// its idc_name. No request is sent in that case.
var ErrUntrustedURL = errors.New("inicis: URL is not an allow-listed Inicis address")

// authResult is the buyer's redirect after authentication, checked.
type authResult struct {
	token        string
	authURL      string // the allow-listed address, never the received string
	netCancelURL string
	idc          string
}

// checkRedirect validates what the buyer's browser brought back before
// anything is sent anywhere: the auth succeeded, it is for this merchant and
// this order, and the URL the op will call is exactly the allow-listed one
// for the idc_name.
func (g *Gateway) checkRedirect(op string, req pg.ApproveRequest, netCancel bool) (authResult, error) {
	r := req.Redirect
	code := strings.TrimSpace(r["resultCode"])
	if o := lookupCode(apiAuth, code); !o.ok {
		return authResult{}, fail(op, o.kind, code, firstNonEmpty(r["resultMsg"], o.reason), 0, nil)
	}
	if mid := r["mid"]; mid != "" && mid != g.cfg.MID {
		return authResult{}, invalid(op, "redirect is for merchant %q, not %q", mid, g.cfg.MID)
	}
	if err := checkOID(op, req.OrderID); err != nil {
		return authResult{}, err
	}
	oid := firstNonEmpty(r["orderNumber"], r["MOID"], r["oid"])
	if oid != "" && oid != req.OrderID {
		return authResult{}, invalid(op, "redirect is for order %q, not %q", oid, req.OrderID)
	}
	if p := req.Prepared["oid"]; p != "" && p != req.OrderID {
		return authResult{}, invalid(op, "checkout was prepared for order %q, not %q", p, req.OrderID)
	}
	if isMobileDevice(req.Prepared["device"]) {
		return authResult{}, invalid(op, "checkout was prepared for the INIpay Mobile window, not the standard (PC) one")
	}
	res := authResult{token: r["authToken"], idc: r["idc_name"]}
	if res.token == "" || len(res.token) > 4096 {
		return authResult{}, invalid(op, "redirect has no usable authToken")
	}
	var err error
	if res.authURL, err = g.allowListed(op, "authUrl", firstNonEmpty(r["authUrl"], r["checkAckUrl"]), true, res.idc,
		func(ep Endpoints) string { return ep.AuthURL }); err != nil && !netCancel {
		return authResult{}, err
	}
	if res.netCancelURL, err = g.allowListed(op, "netCancelUrl", r["netCancelUrl"], true, res.idc,
		func(ep Endpoints) string { return ep.NetCancelURL }); err != nil && netCancel {
		return authResult{}, err
	}
	return res, nil
}

// allowListed is the one SSRF check of every address a redirect names for
// the server to call (authUrl, netCancelUrl, INIpay Mobile's P_REQ_URL):
// it returns the allow-listed address (Config.IDCs) that got is exactly,
// never the received string. addr picks the address of an IDC's entry.
// With byIDC (the standard window's auth result names its idc_name), only
// that IDC's address is allowed, and an idc_name that is not listed (empty
// included) allows nothing; without (a mobile auth result names none), any
// IDC's. Anything else fails with an error wrapping ErrUntrustedURL, and
// nothing is sent.
func (g *Gateway) allowListed(op, field, got string, byIDC bool, idc string, addr func(Endpoints) string) (string, error) {
	untrusted := func(format string, args ...any) error {
		return fail(op, pg.KindInvalid, "UNTRUSTED_URL", fmt.Sprintf(format, args...), 0, ErrUntrustedURL)
	}
	if byIDC {
		ep, ok := g.cfg.IDCs[idc]
		if !ok {
			return "", untrusted("idc_name %q is not allow-listed", idc)
		}
		if want := addr(ep); want == "" || got != want {
			return "", untrusted("%s %q is not the allow-listed address for idc_name %q", field, got, idc)
		}
		return addr(ep), nil
	}
	if got != "" {
		for _, ep := range g.cfg.IDCs {
			if want := addr(ep); want != "" && got == want {
				return want, nil
			}
		}
	}
	return "", untrusted("%s %q is not an allow-listed Inicis address", field, got)
}

// authForm is the approval (and net-cancel) request body, signed at
// timestamp ts (epoch milliseconds).
func (g *Gateway) authForm(token, price, ts string) []byte {
	v := url.Values{
		"mid":          {g.cfg.MID},
		"authToken":    {token},
		"timestamp":    {ts},
		"signature":    {authSignature(token, ts)},
		"verification": {authVerification(token, g.cfg.SignKey, ts)},
		"charset":      {"UTF-8"},
		"format":       {"JSON"},
		"price":        {price},
	}
	return []byte(v.Encode())
}

const formContentType = "application/x-www-form-urlencoded; charset=UTF-8"

// approvalPrice is the approval's amount as Inicis writes it, checked to
// be a positive KRW amount and the one the checkout was prepared for.
func approvalPrice(op string, req pg.ApproveRequest) (string, error) {
	price, err := wonString(req.Amount)
	if err != nil || !req.Amount.IsPositive() {
		return "", invalid(op, "amount must be a positive KRW amount, got %s", req.Amount)
	}
	if p := req.Prepared["price"]; p != "" && p != price {
		return "", invalid(op, "checkout was prepared for %s won, not %s", p, price)
	}
	return price, nil
}

// Approve captures the payment the buyer authenticated: it checks the
// redirect (result, merchant, order, and the authUrl against the allow-list
// for its idc_name) and POSTs the signed approval to that address. The
// answer must be for the same order and amount; if Inicis approved anything
// else, the approval is net-canceled at once and Approve fails.
//
// The answer's authSignature, when it has one, must be the one Inicis
// computes for this request (answerSignature); an answer whose signature
// does not match is forged or tampered with: the approval is net-canceled,
// an error is logged (it is worth an alert), and Approve fails with the
// code AUTH_SIGNATURE_MISMATCH — KindDeclined once the net cancel went
// through (nothing is captured; the buyer may pay again), KindUnknown if it
// did not (the flow then asks INIAPI, whose answers are hash-signed, what
// happened, instead of trusting this one).
//
// Inicis's approval carries no idempotency key: a KindUnknown error (timeout,
// reset, 5xx) means it may have happened, and is resolved by Lookup with the
// order id, never by approving again.
//
// A redirect with INIpay Mobile's fields (P_STATUS, P_TID, P_REQ_URL) is
// approved at P_REQ_URL instead; see approveMobile.
func (g *Gateway) Approve(ctx context.Context, req pg.ApproveRequest) (*pg.Payment, error) {
	const op = "approve"
	if isMobileRedirect(req.Redirect) {
		return g.approveMobile(ctx, req)
	}
	auth, err := g.checkRedirect(op, req, false)
	if err != nil {
		return nil, err
	}
	price, err := approvalPrice(op, req)
	if err != nil {
		return nil, err
	}
	ts := formTimestamp(g.cfg.Now())
	status, body, err := g.post(ctx, op, auth.authURL, formContentType, g.authForm(auth.token, price, ts), false)
	if err != nil {
		return nil, err
	}
	p, err := parseApproval(status, body)
	if err != nil {
		g.log.WarnContext(ctx, "inicis: approval failed", "orderId", req.OrderID, "err", err)
		return nil, err
	}
	if !g.signedByInicis(body, ts) {
		err := g.undo(ctx, req, "AUTH_SIGNATURE_MISMATCH", "the approval answer's authSignature does not match")
		g.log.ErrorContext(ctx, "inicis: approval answer's authSignature does not match: forged or tampered answer, net-canceled",
			"orderId", req.OrderID, "tid", p.PaymentKey, "netCanceled", pg.KindOf(err) == pg.KindDeclined)
		return nil, err
	}
	if mismatch := checkApproved(p, req, g.cfg.MID); mismatch != "" {
		err := g.undo(ctx, req, "APPROVAL_MISMATCH", mismatch)
		g.log.ErrorContext(ctx, "inicis: approval differs from the request, net-canceled",
			"orderId", req.OrderID, "tid", p.PaymentKey, "reason", mismatch, "netCanceled", pg.KindOf(err) == pg.KindDeclined)
		return nil, err
	}
	return p, nil
}

// signedByInicis checks an approval answer's authSignature against the one
// Inicis computes for our request's timestamp ts. An answer without one
// (older integrations) passes; one with a wrong signature does not.
func (g *Gateway) signedByInicis(body []byte, ts string) bool {
	f, err := decodeFields(body)
	if err != nil {
		return false
	}
	got := f.str("authSignature")
	if got == "" {
		return true
	}
	want := answerSignature(g.cfg.MID, ts, f.str("MOID"), f.str("TotPrice"))
	return want != "" && subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

// checkApproved says what is wrong with an approval that is not the one we
// asked for, or "".
func checkApproved(p *pg.Payment, req pg.ApproveRequest, mid string) string {
	switch {
	case p.OrderID != "" && p.OrderID != req.OrderID:
		return fmt.Sprintf("approved order %q, not %q", p.OrderID, req.OrderID)
	case !p.Amount.Equal(req.Amount):
		return fmt.Sprintf("approved %s, not %s", p.Amount, req.Amount)
	case p.Data["mid"] != "" && p.Data["mid"] != mid:
		return fmt.Sprintf("approved for merchant %q", p.Data["mid"])
	}
	return ""
}

// undo net-cancels an approval we must not keep and returns the error
// Approve fails with, under code. If the net cancel went through, nothing is
// captured (declined); if not, the outcome is unknown and the flow looks the
// payment up.
func (g *Gateway) undo(ctx context.Context, req pg.ApproveRequest, code, why string) error {
	const op = "approve"
	if err := g.NetCancel(ctx, req); err != nil {
		return fail(op, pg.KindUnknown, code, why+"; net cancel failed", 0, err)
	}
	return fail(op, pg.KindDeclined, code, why+"; net-canceled", 0, nil)
}

// NetCancel undoes an approval when the shop failed right after Inicis
// approved (망취소): it POSTs the same signed form as the approval to the
// redirect's netCancelUrl, which must be exactly the allow-listed address for
// its idc_name. It is not a refund; use Cancel for payments the flow has
// recorded.
func (g *Gateway) NetCancel(ctx context.Context, req pg.ApproveRequest) error {
	const op = "net-cancel"
	if isMobileRedirect(req.Redirect) {
		return invalid(op, "INIpay Mobile has no net cancel: refund the payment with Cancel")
	}
	auth, err := g.checkRedirect(op, req, true)
	if err != nil {
		return err
	}
	price, err := wonString(req.Amount)
	if err != nil || !req.Amount.IsPositive() {
		return invalid(op, "amount must be a positive KRW amount, got %s", req.Amount)
	}
	status, body, err := g.post(ctx, op, auth.netCancelURL, formContentType, g.authForm(auth.token, price, formTimestamp(g.cfg.Now())), false)
	if err != nil {
		return err
	}
	f, derr := decodeFields(body)
	if derr != nil {
		if status != http.StatusOK {
			return httpFailure(op, status, false)
		}
		return fail(op, pg.KindUnknown, "", "unreadable net-cancel response", status, derr)
	}
	code := f.str("resultCode")
	if o := lookupCode(apiApprove, code); !o.ok {
		return fail(op, o.kind, code, firstNonEmpty(f.str("resultMsg"), o.reason), status, nil)
	}
	return nil
}
