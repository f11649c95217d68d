package outbox

import (
	"errors"

	"github.com/paygate/paygate/internal/retry"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrDuplicate is returned by Emit for an event ID that exists.
	ErrDuplicate = errors.New("outbox: an event with this id exists")
	// ErrNotFound is returned for a delivery that does not exist.
	ErrNotFound = errors.New("outbox: not found")
	// ErrInvalidState is returned by an operator action the delivery's
	// status does not allow (Redeliver of one that is not dead).
	ErrInvalidState = errors.New("outbox: operation not allowed in this state")
	// ErrInvalid is returned for bad input: an event without a type, a
	// subscriber without a name. Nothing is written.
	ErrInvalid = errors.New("outbox: invalid input")
)

// Permanent marks err as a definite failure that retrying cannot fix: a
// handler returning it has its delivery parked as dead at once. It is the
// same mark as saga.Permanent, so an error marked by either counts as
// permanent for both.
//
// Permanent(nil) returns nil.
func Permanent(err error) error { return retry.Permanent(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent (or saga.Permanent).
func IsPermanent(err error) bool { return retry.IsPermanent(err) }
