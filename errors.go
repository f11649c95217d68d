package paygate

import (
	"errors"
	"time"

	"github.com/paygate/paygate/pg"
)

// Errors callers branch on with errors.Is. The example server maps them to
// HTTP statuses.
var (
	// ErrInvalid: the request is malformed or incomplete. Nothing changed.
	ErrInvalid = errors.New("paygate: invalid request")
	// ErrNotFound: no such checkout, payment or order.
	ErrNotFound = errors.New("paygate: not found")
	// ErrAmountMismatch: the amount differs from the prepared checkout;
	// the PG was not called.
	ErrAmountMismatch = errors.New("paygate: amount differs from the checkout")
	// ErrConflict: the operation does not fit the current state (order
	// already paid, checkout expired, nothing left to refund).
	ErrConflict = errors.New("paygate: conflicting state")
	// ErrInProgress: the same order or payment is being worked on by
	// another request; try again shortly.
	ErrInProgress = errors.New("paygate: operation in progress")
	// ErrPaymentKeyMismatch: the PG's payment key (or tid) the approval
	// names belongs to another order's payment. Nothing was written and the
	// order can still be paid. It comes wrapped with ErrConflict.
	ErrPaymentKeyMismatch = errors.New("paygate: payment key belongs to another order")
	// ErrTooManyAttempts: the order had Config.AttemptLimit failed
	// approvals within Config.AttemptWindow; the error is a
	// *RetryLaterError saying when the next attempt is accepted.
	ErrTooManyAttempts = errors.New("paygate: too many failed attempts")
	// ErrPG: the PG refused or failed; the error wraps the *pg.Error.
	ErrPG = errors.New("paygate: PG error")
)

// RetryLaterError is a refusal that lifts after a while (HTTP's 429 with
// Retry-After). It wraps the reason, e.g. ErrTooManyAttempts.
type RetryLaterError struct {
	After time.Duration
	Err   error
}

func (e *RetryLaterError) Error() string { return e.Err.Error() }

func (e *RetryLaterError) Unwrap() error { return e.Err }

// errCode is the PG's code of err, or its kind's.
func errCode(err error) string { return pg.CodeOf(err) }

func errMessage(err error) string {
	var pe *pg.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message
	}
	return err.Error()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
