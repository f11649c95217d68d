package saga

import (
	"errors"

	"github.com/paygate/paygate/internal/retry"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrDuplicate is returned by Start when an instance of the definition
	// already exists for the business key. Start returns that instance too.
	ErrDuplicate = errors.New("saga: an instance already exists for this business key")
	// ErrNotFound is returned by queries and operator actions for an
	// instance that does not exist.
	ErrNotFound = errors.New("saga: not found")
	// ErrLeaseLost is returned when a runner tries to write an instance
	// whose lease it no longer holds: another runner took over after the
	// lease expired, or the instance was never committed. The write is
	// refused and nothing changes.
	ErrLeaseLost = errors.New("saga: lease lost")
	// ErrNotDone is returned by a Resolve hook that found the action
	// certainly did not take effect; the runner then calls the action.
	ErrNotDone = errors.New("saga: the action did not take effect")
	// ErrUnknownDefinition is returned for a definition that was not
	// registered with the runner.
	ErrUnknownDefinition = errors.New("saga: unknown definition")
	// ErrInvalidState is returned by an operator action the instance's
	// state does not allow (for example Retry of a running saga).
	ErrInvalidState = errors.New("saga: operation not allowed in this state")
	// ErrConcurrent is returned by an operator action that raced a runner
	// (or another operator) writing the same instance: nothing changed;
	// try again.
	ErrConcurrent = errors.New("saga: instance changed concurrently; try again")
	// ErrInvalid is returned for bad input: an invalid definition, an empty
	// business key. Nothing is written.
	ErrInvalid = errors.New("saga: invalid input")
)

// Permanent marks err as a definite failure that retrying cannot fix. A step
// action returning a permanent error says its effect certainly did not happen
// (a declined payment, an order the host refused): the runner does not retry
// it and does not compensate that step, only the ones before it. A
// compensation returning a permanent error is refused for good: the saga
// moves to NEEDS_ATTENTION with the error as its reason. It is the same
// mark as outbox.Permanent, so an error marked by either counts as
// permanent for both (a subscriber returning it has its delivery parked as
// dead at once).
//
// Permanent(nil) returns nil.
func Permanent(err error) error { return retry.Permanent(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent (or outbox.Permanent).
func IsPermanent(err error) bool { return retry.IsPermanent(err) }
