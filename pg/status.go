package pg

import "fmt"

// Status is a payment's state in paygate, the same for every PG. Each adapter
// maps its PG's own statuses onto these.
//
//	APPROVING → APPROVED | FAILED | UNKNOWN | WAITING_FOR_DEPOSIT
//	UNKNOWN → APPROVED | FAILED | WAITING_FOR_DEPOSIT | PARTIAL_CANCELED | CANCELED | EXPIRED
//	WAITING_FOR_DEPOSIT → APPROVED | CANCELED | EXPIRED
//	APPROVED → PARTIAL_CANCELED → CANCELED;  APPROVED → CANCELED
//
// FAILED, CANCELED and EXPIRED are terminal.
type Status string

const (
	// StatusApproving: the approval was dispatched to the PG and its result
	// is not recorded yet.
	StatusApproving Status = "APPROVING"
	// StatusApproved: captured at the PG.
	StatusApproved Status = "APPROVED"
	// StatusFailed: definitely not captured (declined, expired session).
	StatusFailed Status = "FAILED"
	// StatusUnknown: the approval may or may not have happened; resolved by
	// Lookup.
	StatusUnknown Status = "UNKNOWN"
	// StatusWaitingForDeposit: a virtual account was issued and waits for
	// the buyer's transfer.
	StatusWaitingForDeposit Status = "WAITING_FOR_DEPOSIT"
	// StatusPartialCanceled: part of the amount was refunded.
	StatusPartialCanceled Status = "PARTIAL_CANCELED"
	// StatusCanceled: refunded in full (or a virtual account canceled).
	StatusCanceled Status = "CANCELED"
	// StatusExpired: a virtual account expired without a deposit.
	StatusExpired Status = "EXPIRED"
	// StatusPending is only ever reported by Lookup: the PG knows the payment
	// (the buyer authenticated) but it was not approved. It is never stored;
	// the flow decides from it (e.g. an approval that timed out and is still
	// pending at the PG was not captured).
	StatusPending Status = "PENDING"
)

// Statuses lists every stored status in the order of the state machine.
var Statuses = []Status{
	StatusApproving, StatusUnknown, StatusWaitingForDeposit, StatusApproved,
	StatusPartialCanceled, StatusFailed, StatusCanceled, StatusExpired,
}

var transitions = map[Status][]Status{
	StatusApproving:         {StatusApproved, StatusFailed, StatusUnknown, StatusWaitingForDeposit},
	StatusUnknown:           {StatusApproved, StatusFailed, StatusWaitingForDeposit, StatusPartialCanceled, StatusCanceled, StatusExpired},
	StatusWaitingForDeposit: {StatusApproved, StatusCanceled, StatusExpired},
	StatusApproved:          {StatusPartialCanceled, StatusCanceled},
	StatusPartialCanceled:   {StatusPartialCanceled, StatusCanceled},
}

// Valid reports whether s is one of the stored statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// Terminal reports whether nothing can follow s.
func (s Status) Terminal() bool {
	return s == StatusFailed || s == StatusCanceled || s == StatusExpired
}

// Captured reports whether money was taken and not fully returned.
func (s Status) Captured() bool {
	return s == StatusApproved || s == StatusPartialCanceled
}

// CanTransition reports whether a payment may move from one status to
// another. Moves are monotonic: late or out-of-order news (a webhook that
// says DONE after CANCELED) never moves a payment back, and a move to the
// same status is not a move (false), except PARTIAL_CANCELED →
// PARTIAL_CANCELED, which records one more partial refund.
func CanTransition(from, to Status) bool {
	for _, next := range transitions[from] {
		if next == to {
			return true
		}
	}
	return false
}

// ErrIllegalTransition is wrapped by CheckTransition's errors.
var ErrIllegalTransition = fmt.Errorf("pg: illegal status transition")

// CheckTransition is CanTransition as an error that says what was refused.
func CheckTransition(from, to Status) error {
	if !from.Valid() || !to.Valid() {
		return fmt.Errorf("%w: unknown status %q → %q", ErrIllegalTransition, from, to)
	}
	if !CanTransition(from, to) {
		return fmt.Errorf("%w: %s → %s", ErrIllegalTransition, from, to)
	}
	return nil
}
