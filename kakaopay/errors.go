package kakaopay

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/paygate/paygate/pg"
)

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

// errorBody is KakaoPay's error answer: current API
// {"error_code", "error_message", "extras"}, legacy
// {"code", "msg", "extras"}.
type errorBody struct {
	ErrorCode    json.RawMessage            `json:"error_code"`
	ErrorMessage string                     `json:"error_message"`
	Code         json.RawMessage            `json:"code"`
	Msg          string                     `json:"msg"`
	Extras       map[string]json.RawMessage `json:"extras"`
}

// parsedError is an error answer's content.
type parsedError struct {
	code          int
	hasCode       bool
	message       string
	methodCode    string
	methodMessage string
}

// parseError reads an error body of either generation; ok is false when the
// body holds neither shape.
func parseError(body []byte) (parsedError, bool) {
	var b errorBody
	if err := json.Unmarshal(body, &b); err != nil {
		return parsedError{}, false
	}
	var p parsedError
	raw := b.ErrorCode
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = b.Code
	}
	p.code, p.hasCode = parseCode(raw)
	p.message = b.ErrorMessage
	if p.message == "" {
		p.message = b.Msg
	}
	p.methodCode = extraString(b.Extras, "method_result_code")
	p.methodMessage = extraString(b.Extras, "method_result_message")
	return p, p.hasCode || p.message != ""
}

// parseCode reads an error code sent as a number or as a string.
func parseCode(raw json.RawMessage) (int, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false
	}
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	return n, true
}

func extraString(extras map[string]json.RawMessage, key string) string {
	raw, ok := extras[key]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
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
