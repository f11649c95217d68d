package kakaopay

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// Keys of Prepared.Client: the redirect target KakaoPay returned for the
// buyer's device (pg.PrepareRequest.Device), to open the payment window
// there. A PC checkout gets ClientRedirectPC, a mobile-web one
// ClientRedirectMobile, an app one ClientRedirectApp and, when KakaoPay
// sent them, the app schemes ClientAndroidScheme and ClientIOSScheme.
const (
	ClientRedirectPC     = "next_redirect_pc_url"
	ClientRedirectMobile = "next_redirect_mobile_url"
	ClientRedirectApp    = "next_redirect_app_url"
	ClientAndroidScheme  = "android_app_scheme"
	ClientIOSScheme      = "ios_app_scheme"
)

// Prepare is KakaoPay's ready call. It sends the checkout (partner_order_id
// = req.OrderID, partner_user_id = req.CustomerID or, when empty, the order
// id; item_name = req.OrderName or, when blank, the order id; quantity 1;
// total and tax-free amounts; the three redirect URLs) and returns the
// redirect target for req.Device in Client (see ClientRedirectPC) and the tid, cid and partner ids in Data,
// which the flow stores and hands back to Approve, Cancel and Lookup.
//
// The request is checked first by the same rules as ValidatePrepare, so
// the two never disagree: what ValidatePrepare accepts is what Prepare
// sends.
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
	client, err := clientFor(req.Device, resp)
	if err != nil {
		return nil, fmt.Errorf("kakaopay: ready order %q: %w", req.OrderID, err)
	}
	return &pg.Prepared{
		Client: client,
		Data: map[string]string{
			DataTID: resp.TID, DataCID: r.CID,
			DataPartnerOrderID: r.PartnerOrderID, DataPartnerUserID: r.PartnerUserID,
		},
	}, nil
}

// clientFor picks ready's redirect target for the device. Approve is the
// same whichever window the buyer paid in: every one redirects to
// approval_url with a pg_token.
func clientFor(d pg.Device, resp readyResponse) (map[string]string, error) {
	client := map[string]string{}
	var key, target string
	switch d.OrPC() {
	case pg.DeviceMobile:
		key, target = ClientRedirectMobile, resp.NextRedirectMobileURL
	case pg.DeviceApp:
		key, target = ClientRedirectApp, resp.NextRedirectAppURL
		for k, v := range map[string]string{ClientAndroidScheme: resp.AndroidAppScheme, ClientIOSScheme: resp.IOSAppScheme} {
			if v != "" {
				client[k] = v
			}
		}
	default:
		key, target = ClientRedirectPC, resp.NextRedirectPCURL
	}
	if target == "" {
		return nil, badResponse(opPrepare, http.StatusOK, "ready answer without "+key, nil)
	}
	client[key] = target
	return client, nil
}

// Codes of the *pg.Error ValidatePrepare (and Prepare) return for a
// checkout KakaoPay's ready would refuse, one per ready field.
const (
	CodeInvalidPartnerOrderID = "INVALID_PARTNER_ORDER_ID"
	CodeInvalidPartnerUserID  = "INVALID_PARTNER_USER_ID"
	CodeInvalidItemName       = "INVALID_ITEM_NAME"
	CodeInvalidTotalAmount    = "INVALID_TOTAL_AMOUNT"
	CodeInvalidTaxFreeAmount  = "INVALID_TAX_FREE_AMOUNT"
	CodeInvalidMethod         = "INVALID_PAYMENT_METHOD_TYPE"
	CodeInvalidApprovalURL    = "INVALID_APPROVAL_URL"
	CodeInvalidCancelURL      = "INVALID_CANCEL_URL"
	CodeInvalidFailURL        = "INVALID_FAIL_URL"
	CodeInvalidCID            = "INVALID_CID"
)

// KakaoPay's limits on ready (pg-apis.md 2.1; developers.kakao.com states
// them as "최대 100자", characters).
const (
	maxPartnerID = 100
	maxItemName  = 100
	maxURL       = 255
	maxCID       = 10
	cidSecretLen = 24
)

// ValidatePrepare refuses a checkout KakaoPay's ready would refuse, before
// the flow writes anything for it; it calls nothing. It builds the ready
// request exactly as Prepare does and checks it:
//
//   - partner_order_id (req.OrderID) and partner_user_id (req.CustomerID,
//     or the order id when empty): required, not blank, at most 100
//     characters.
//   - item_name (req.OrderName, or the order id when blank): at most 100
//     characters.
//   - total_amount: a positive KRW amount; tax_free_amount: KRW, not above
//     it.
//   - payment_method_type: CARD or MONEY, or none (pg.MethodEasyPay).
//   - approval_url, cancel_url, fail_url (the request's, or Config's):
//     absolute http(s) URLs of at most 255 characters.
//   - cid at most 10 characters, cid_secret (when set) 24 digits and
//     lowercase letters.
//
// Lengths are characters (Unicode code points), as KakaoPay documents them
// ("최대 100자"), not bytes: 100 Hangul syllables (300 bytes of UTF-8) pass.
// The text fields must also be valid UTF-8 (JSON would replace invalid
// bytes, and KakaoPay would keep an order id other than ours) and free of
// control characters (C0, DEL, C1): KakaoPay documents no alphabet for
// them, and its payment window shows them to the buyer. Refusals are
// *pg.Error of pg.KindInvalid whose Code names the ready field
// (CodeInvalidPartnerUserID, ...).
func (g *Gateway) ValidatePrepare(req pg.PrepareRequest) error {
	_, err := g.readyRequest(req)
	return err
}

func (g *Gateway) readyRequest(req pg.PrepareRequest) (readyRequest, error) {
	const op = opPrepare
	r := readyRequest{
		CID: g.cfg.CID, CIDSecret: g.cfg.CIDSecret,
		PartnerOrderID: req.OrderID, PartnerUserID: req.CustomerID,
		ItemName: req.OrderName, Quantity: 1,
		ApprovalURL: req.SuccessURL, CancelURL: req.CancelURL, FailURL: req.FailURL,
	}
	if err := checkText(op, CodeInvalidPartnerOrderID, "order id", r.PartnerOrderID, maxPartnerID); err != nil {
		return r, err
	}
	if r.PartnerUserID == "" {
		r.PartnerUserID = r.PartnerOrderID
	}
	if err := checkText(op, CodeInvalidPartnerUserID, "customer id", r.PartnerUserID, maxPartnerID); err != nil {
		return r, err
	}
	if strings.TrimSpace(r.ItemName) == "" {
		r.ItemName = r.PartnerOrderID
	}
	if err := checkText(op, CodeInvalidItemName, "order name", r.ItemName, maxItemName); err != nil {
		return r, err
	}
	var err error
	if r.TotalAmount, err = krw(op, "amount", req.Amount); err != nil {
		return r, withCode(err, CodeInvalidTotalAmount)
	}
	if r.TaxFreeAmount, err = optionalKRW(op, "tax-free amount", req.TaxFree, r.TotalAmount); err != nil {
		return r, withCode(err, CodeInvalidTaxFreeAmount)
	}
	switch req.Method {
	case "", pg.MethodEasyPay:
	case pg.MethodCard, pg.MethodMoney:
		r.PaymentMethodType = string(req.Method)
	default:
		return r, invalidField(op, CodeInvalidMethod, "KakaoPay offers CARD and MONEY, not %q", req.Method)
	}
	for _, u := range []struct {
		dst      *string
		fallback string
		name     string
		code     string
	}{
		{&r.ApprovalURL, g.cfg.ApprovalURL, "success URL", CodeInvalidApprovalURL},
		{&r.CancelURL, g.cfg.CancelURL, "cancel URL", CodeInvalidCancelURL},
		{&r.FailURL, g.cfg.FailURL, "fail URL", CodeInvalidFailURL},
	} {
		if *u.dst == "" {
			*u.dst = u.fallback
		}
		if *u.dst == "" {
			return r, invalidField(op, u.code, "%s is required (in the request or Config)", u.name)
		}
		if err := checkRedirectURL(*u.dst); err != nil {
			return r, invalidField(op, u.code, "%s: %v", u.name, err)
		}
	}
	if n := utf8.RuneCountInString(r.CID); n > maxCID {
		return r, invalidField(op, CodeInvalidCID, "cid must be at most %d characters, got %d", maxCID, n)
	}
	if r.CIDSecret != "" && !validCIDSecret(r.CIDSecret) {
		return r, invalidField(op, CodeInvalidCID, "cid_secret must be %d digits and lowercase letters", cidSecretLen)
	}
	return r, nil
}

// checkText applies ready's rules for a text field: required and not
// blank, valid UTF-8 without control characters, at most max characters.
func checkText(op, code, what, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return invalidField(op, code, "%s is required", what)
	case !utf8.ValidString(s):
		return invalidField(op, code, "%s is not valid UTF-8", what)
	case hasControl(s):
		return invalidField(op, code, "%s has control characters", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalidField(op, code, "%s is %d characters, KakaoPay takes at most %d", what, n, max)
	}
	return nil
}

// hasControl reports C0 and C1 control characters and DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return true
		}
	}
	return false
}

func validCIDSecret(s string) bool {
	if len(s) != cidSecretLen {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
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
