package pg

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind says what a failed PG call means for the money. The flow branches on
// the kind, never on a PG's own codes.
type Kind uint8

const (
	// KindUnknown: the call may have taken effect (timeout after sending,
	// connection reset, 5xx on a call without an honoured idempotency key).
	// Never assume either way; look the payment up. It is the zero value so
	// an unclassified error is treated as the dangerous case.
	KindUnknown Kind = iota
	// KindDeclined: definite refusal, no money moved (card declined, limit,
	// wrong amount). The buyer may try again.
	KindDeclined
	// KindInvalid: our request is wrong (bad parameter, bad key, forbidden);
	// retrying the same request cannot help.
	KindInvalid
	// KindUnavailable: definitely not processed (connection refused, 429,
	// PG maintenance); safe to try again later.
	KindUnavailable
	// KindAlreadyDone: the PG says the operation already happened (Toss
	// ALREADY_PROCESSED_PAYMENT, already canceled); look it up to learn the
	// result.
	KindAlreadyDone
	// KindNotFound: the PG has no such payment.
	KindNotFound
)

var kindNames = [...]string{"unknown", "declined", "invalid", "unavailable", "already done", "not found"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

var kindCodes = [...]string{"UNKNOWN", "DECLINED", "INVALID", "UNAVAILABLE", "ALREADY_DONE", "NOT_FOUND"}

// Code is the kind as a stable machine-readable code ("DECLINED",
// "ALREADY_DONE", ...), for records and APIs that need one when the PG gave
// no code of its own.
func (k Kind) Code() string {
	if int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return "UNKNOWN"
}

// CodeOf is the PG's own code of err when it carries one, else "PG_" and
// the code of its kind ("PG_UNAVAILABLE" for a refused connection).
func CodeOf(err error) string {
	var pe *Error
	if errors.As(err, &pe) && pe.Code != "" {
		return pe.Code
	}
	return "PG_" + KindOf(err).Code()
}

// Error makes each Kind usable as a sentinel: errors.Is(err, pg.ErrDeclined).
func (k Kind) Error() string { return "pg: " + k.String() }

// Sentinels for errors.Is. Any *Error matches the sentinel of its kind.
var (
	ErrUnknown     error = KindUnknown
	ErrDeclined    error = KindDeclined
	ErrInvalid     error = KindInvalid
	ErrUnavailable error = KindUnavailable
	ErrAlreadyDone error = KindAlreadyDone
	ErrNotFound    error = KindNotFound
)

// Error is the one error type adapters return for a PG call that failed.
type Error struct {
	PG         string // adapter name, e.g. "tosspay"
	Op         string // "approve", "cancel", "lookup", "prepare", ...
	Kind       Kind
	Code       string // the PG's own code, e.g. "REJECT_CARD_COMPANY"
	Message    string // the PG's message, safe to show an operator
	HTTPStatus int    // 0 when no response was received
	// Retryable is true when the PG says the same request may succeed later
	// (e.g. a card company's temporary fault) even though this try was
	// declined.
	Retryable bool
	Err       error // the underlying cause (transport error), if any
}

func (e *Error) Error() string {
	msg := e.PG
	if msg == "" {
		msg = "pg" // a sentinel such as ErrWebhookRejected names no adapter
	}
	if e.Op != "" {
		msg += " " + e.Op
	}
	msg += ": " + e.Kind.String()
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the Kind sentinels.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf classifies any error from a PG call. A *Error gives its own kind;
// context.Canceled and DeadlineExceeded and every unclassified error are
// KindUnknown, because a call that was cut short may still have happened.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return KindUnknown
}

// KindForHTTPStatus is the default kind of an HTTP error status whose body
// the adapter could not map: 4xx mean our request was refused (Invalid), 429
// 408 and 503 mean not processed (Unavailable), other 5xx may have happened
// (Unknown).
func KindForHTTPStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable ||
		status == http.StatusRequestTimeout:
		return KindUnavailable
	case status >= 400 && status < 500:
		return KindInvalid
	default:
		return KindUnknown
	}
}
