// Package retry holds what saga and outbox share about retrying failed
// work: jittered exponential backoff, the marker of failures that retrying
// cannot fix (one marker, so an error marked by either package counts as
// permanent for both), and the error a recovered panic becomes.
package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait after the attempt-th failed attempt (1-based):
// initial doubled per attempt up to max, drawn uniformly from [d/2, d] so
// work that failed together does not retry together. initial and max must
// be positive.
func Backoff(initial, max time.Duration, attempt int) time.Duration {
	d := initial
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks err as a definite failure that retrying cannot fix.
// Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// PanicError is a recovered panic of a step or handler, treated as a
// transient failure: the code may be fixed and redeployed.
type PanicError struct{ Value any }

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }
