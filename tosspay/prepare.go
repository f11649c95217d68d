package tosspay

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// Toss's limits on a checkout (pg-apis.md 1.1 and the Payment object).
const (
	minOrderID   = 6
	maxOrderID   = 64
	maxOrderName = 100
)

// Codes of the *pg.Error ValidatePrepare returns, one per field.
const (
	CodeInvalidOrderID   = "INVALID_ORDER_ID"
	CodeInvalidOrderName = "INVALID_ORDER_NAME"
	CodeInvalidAmount    = "INVALID_AMOUNT"
)

// ValidatePrepare refuses a checkout Toss's payment window would refuse,
// before the flow writes anything for it. It calls nothing.
//
//   - orderId: 6 to 64 characters, each an ASCII letter, a digit, '-' or
//     '_'. That is the rule of Toss's reference and of its payment SDK,
//     which refuses anything else in the buyer's browser. The unofficial
//     OpenAPI description also admits '.', and one SDK's docs '='; neither
//     is in Toss's reference, so a checkout with them is refused: an id Toss
//     may refuse would strand the order after it was written. Hangul,
//     emoji, spaces, path characters such as "../" and control characters
//     (C0 and C1, e.g. U+0085 and U+009B) are refused.
//   - orderName: required, at most 100 characters (Unicode code points, so
//     100 Hangul syllables pass), valid UTF-8, no control characters.
//   - amount: positive, in KRW, USD or JPY.
//
// The adapter sends no customerKey (the payment window takes it from the
// browser), so CustomerID is not checked. Refusals are *pg.Error of
// pg.KindInvalid whose Code names the field (CodeInvalidOrderID,
// CodeInvalidOrderName, CodeInvalidAmount).
//
// Ids of payments made outside the checkout (a virtual account issued from
// the merchant console may have the order id "71") follow the looser rule
// of Lookup and ParseWebhook, not this one.
func (g *Gateway) ValidatePrepare(req pg.PrepareRequest) error {
	const op = "prepare"
	if err := checkoutOrderID(req.OrderID); err != nil {
		return fieldErr(op, CodeInvalidOrderID, err.Error())
	}
	switch name := req.OrderName; {
	case strings.TrimSpace(name) == "":
		return fieldErr(op, CodeInvalidOrderName, "orderName is required")
	case !utf8.ValidString(name):
		return fieldErr(op, CodeInvalidOrderName, "orderName is not valid UTF-8")
	case utf8.RuneCountInString(name) > maxOrderName:
		return fieldErr(op, CodeInvalidOrderName, fmt.Sprintf("orderName must be at most %d characters, got %d", maxOrderName, utf8.RuneCountInString(name)))
	case hasControl(name):
		return fieldErr(op, CodeInvalidOrderName, "orderName has control characters")
	}
	if err := validateAmount(op, "amount", req.Amount); err != nil {
		var pe *pg.Error
		if errors.As(err, &pe) {
			return fieldErr(op, CodeInvalidAmount, pe.Message)
		}
		return fieldErr(op, CodeInvalidAmount, err.Error())
	}
	return nil
}

// checkoutOrderID is Toss's rule for the orderId of a new payment.
func checkoutOrderID(id string) error {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("orderId may hold only ASCII letters, digits, '-' and '_', not %q", r)
		}
	}
	// Only ASCII is left, so bytes are characters.
	if n := len(id); n < minOrderID || n > maxOrderID {
		return fmt.Errorf("orderId must be %d to %d characters, got %d", minOrderID, maxOrderID, n)
	}
	return nil
}

// validateOrderRef checks the orderId of a payment that already exists at
// Toss, for a lookup or a webhook's fetch: Toss made it, so only what keeps
// the request well-formed is checked. Ids made outside a checkout can be
// shorter than a checkout's 6 characters (a live virtual account has "71"),
// so 1 to 64 characters of ASCII letters, digits, '-', '_', '.' and '='
// pass; an id of dots alone ("." or "..") would name another path and is
// refused.
func validateOrderRef(op, id string) error {
	if id == "" || len(id) > maxOrderID {
		return invalidErr(op, fmt.Sprintf("orderId must be 1 to %d characters, got %d", maxOrderID, len(id)))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '=') {
			return invalidErr(op, "orderId may hold only letters, digits, '-', '_', '.' and '='")
		}
	}
	if strings.Trim(id, ".") == "" {
		return invalidErr(op, fmt.Sprintf("orderId %q is not an id", id))
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

func fieldErr(op, code, msg string) *pg.Error {
	return &pg.Error{PG: Name, Op: op, Kind: pg.KindInvalid, Code: code, Message: msg}
}
