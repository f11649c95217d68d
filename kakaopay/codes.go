package kakaopay

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/paygate/paygate/pg"
)

// statusRule maps one KakaoPay status onto paygate's, with the reason.
type statusRule struct {
	status pg.Status
	reason string
}

// statuses maps every status KakaoPay's order lookup reports. Nothing before
// SUCCESS_PAYMENT has captured money, so the flow may treat each of those as
// "not approved" (StatusPending); the three failures are terminal.
var statuses = map[string]statusRule{
	"READY":               {pg.StatusPending, "ready done; the buyer has not opened the payment window"},
	"SEND_TMS":            {pg.StatusPending, "payment request message sent to the buyer's KakaoTalk; not authenticated"},
	"OPEN_PAYMENT":        {pg.StatusPending, "the buyer opened the payment screen; not authenticated"},
	"SELECT_METHOD":       {pg.StatusPending, "the buyer chose a method; not approved"},
	"ARS_WAITING":         {pg.StatusPending, "ARS authentication in progress; not approved"},
	"AUTH_PASSWORD":       {pg.StatusPending, "the buyer authenticated; waiting for our approve call, nothing captured"},
	"ISSUED_SID":          {pg.StatusFailed, "a recurring SID was issued without a charge: this tid never captures money"},
	"SUCCESS_PAYMENT":     {pg.StatusApproved, "approved and captured"},
	"PART_CANCEL_PAYMENT": {pg.StatusPartialCanceled, "part of the amount was canceled"},
	"CANCEL_PAYMENT":      {pg.StatusCanceled, "canceled in full"},
	"FAIL_AUTH_PASSWORD":  {pg.StatusFailed, "the buyer failed the password check"},
	"QUIT_PAYMENT":        {pg.StatusFailed, "the buyer quit the payment (or its time ran out)"},
	"FAIL_PAYMENT":        {pg.StatusFailed, "approval failed"},
}

// mapStatus returns paygate's status for a KakaoPay status; ok is false for a
// status KakaoPay does not document, which callers must not guess about.
func mapStatus(s string) (pg.Status, bool) {
	r, ok := statuses[s]
	return r.status, ok
}

// statusSuccessPayment is what an approve response means; the response
// itself carries no status.
const statusSuccessPayment = "SUCCESS_PAYMENT"

// codeRule is what one KakaoPay error code means for the money.
type codeRule struct {
	kind pg.Kind
	// retryable says the same request may succeed later.
	retryable bool
}

// codes maps KakaoPay's error codes onto kinds. KakaoPay publishes no full
// table for its current API: -780 is confirmed; the other -7xx codes follow
// the legacy developers.kakao.com table as integrators quote it, and the
// small negatives are Kakao's common API codes. A code not listed here is
// classified by its HTTP status (see fallbackKind).
var codes = map[int]codeRule{
	-1:    {kind: pg.KindUnknown},                      // internal error: the call may have acted
	-2:    {kind: pg.KindInvalid},                      // missing or malformed parameter
	-3:    {kind: pg.KindInvalid},                      // API not enabled for the app
	-5:    {kind: pg.KindInvalid},                      // no permission
	-7:    {kind: pg.KindUnavailable, retryable: true}, // service under maintenance
	-10:   {kind: pg.KindUnavailable, retryable: true}, // quota exceeded
	-401:  {kind: pg.KindInvalid},                      // bad key
	-9798: {kind: pg.KindUnavailable, retryable: true}, // service under maintenance
	-701:  {kind: pg.KindDeclined},                     // approve before the buyer authenticated
	-702:  {kind: pg.KindAlreadyDone},                  // tid already approved
	-703:  {kind: pg.KindDeclined},                     // more points than allowed
	-705:  {kind: pg.KindInvalid},                      // method not supported
	-706:  {kind: pg.KindInvalid},                      // partner_order_id differs from the ready call
	-707:  {kind: pg.KindInvalid},                      // partner_user_id differs from the ready call
	-708:  {kind: pg.KindInvalid},                      // pg_token does not belong to the tid
	-710:  {kind: pg.KindAlreadyDone},                  // cancel above the cancelable amount; see unguardedOverCancel
	-721:  {kind: pg.KindNotFound},                     // no such tid
	-722:  {kind: pg.KindDeclined},                     // amount differs from the ready call
	-723:  {kind: pg.KindDeclined},                     // the tid's time ran out
	-724:  {kind: pg.KindInvalid},                      // bad single amount
	-725:  {kind: pg.KindInvalid},                      // bad total amount
	-726:  {kind: pg.KindInvalid},                      // order information is wrong
	-730:  {kind: pg.KindInvalid},                      // bad merchant app
	-731:  {kind: pg.KindInvalid},                      // bad cid or cid_secret
	-732:  {kind: pg.KindInvalid},                      // bad gid
	-780:  {kind: pg.KindDeclined},                     // the payment method refused the approval
	-781:  {kind: pg.KindDeclined},                     // the cancel was refused
	-784:  {kind: pg.KindDeclined},                     // limit exceeded
	-797:  {kind: pg.KindDeclined},                     // single-payment limit exceeded
	-798:  {kind: pg.KindInvalid},                      // caller IP not allowed
	-799:  {kind: pg.KindInvalid},                      // domain not registered
}

// temporaryMethodResults are -780 method_result_codes after which the same
// approval may succeed later.
var temporaryMethodResults = map[string]bool{
	"USER_LOCKED": true, // "a transaction is in progress; try again shortly"
}

// errorFrom maps a non-2xx answer to the op onto a *pg.Error.
func errorFrom(op string, status int, body []byte) *pg.Error {
	e := &pg.Error{PG: Name, Op: op, HTTPStatus: status}
	p, ok := parseError(body)
	if !ok {
		e.Kind = fallbackKind(op, status)
		e.Message = http.StatusText(status)
		return e
	}
	e.Message = p.message
	if p.methodCode != "" || p.methodMessage != "" {
		e.Message += " (" + strings.TrimSpace(p.methodCode+" "+p.methodMessage) + ")"
	}
	if !p.hasCode {
		e.Kind = fallbackKind(op, status)
		return e
	}
	e.Code = strconv.Itoa(p.code)
	rule, known := codes[p.code]
	if !known {
		e.Kind = fallbackKind(op, status)
		return e
	}
	e.Kind = rule.kind
	e.Retryable = rule.retryable || (p.code == -780 && temporaryMethodResults[p.methodCode])
	// A server error on a call that moves money may have acted whatever
	// its code says.
	if status >= 500 && status != http.StatusServiceUnavailable && (op == opApprove || op == opCancel) && e.Kind != pg.KindUnavailable {
		e.Kind = pg.KindUnknown
	}
	return e
}

// fallbackKind classifies an answer whose code is missing or not in the
// table. An approval refused with a code we do not know is KindUnknown, not
// KindInvalid: KakaoPay answers every refusal with 400, so an unknown code
// may mean "already approved", and only a lookup can tell. Other calls
// follow pg.KindForHTTPStatus; 401 and 403 are our credentials on every
// call.
func fallbackKind(op string, status int) pg.Kind {
	k := pg.KindForHTTPStatus(status)
	if op == opApprove && (k == pg.KindInvalid || k == pg.KindNotFound) &&
		status != http.StatusUnauthorized && status != http.StatusForbidden {
		return pg.KindUnknown
	}
	return k
}

// codeCancelExceeds is KakaoPay's refusal of a cancel above the cancelable
// amount.
const codeCancelExceeds = "-710"

// unguardedOverCancel reclassifies -710 for a cancel sent without
// cancel_available_amount. With the guard, -710 means the balance moved
// since the caller read it, most likely by this very cancel applied after an
// unknown outcome: KindAlreadyDone, look it up. Without it, the caller asked
// for more than the payment has left, which no lookup can fix: KindInvalid.
func unguardedOverCancel(err error) error {
	var pe *pg.Error
	if errors.As(err, &pe) && pe.Code == codeCancelExceeds && pe.Kind == pg.KindAlreadyDone {
		pe.Kind = pg.KindInvalid
	}
	return err
}
