package saga

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paygate/paygate/internal/retry"
)

// State is the state of a saga instance.
//
//	RUNNING ──► COMPLETED
//	   │
//	   └──────► COMPENSATING ──► COMPENSATED
//	any non-terminal ──► NEEDS_ATTENTION ──(Retry)──► RUNNING | COMPENSATING
//	                                     ──(Resolve)─► COMPLETED | COMPENSATED
//
// A saga whose first step fails for good has nothing to compensate and goes
// from RUNNING straight to COMPENSATED. An operator's Resolve ends a saga
// whose remaining work was done by hand: COMPLETED when it was going
// forward, COMPENSATED when it was compensating.
type State string

// The saga states. COMPLETED and COMPENSATED are terminal; NEEDS_ATTENTION
// waits for an operator (Runner.Retry).
const (
	Running        State = "RUNNING"
	Compensating   State = "COMPENSATING"
	Completed      State = "COMPLETED"
	Compensated    State = "COMPENSATED"
	NeedsAttention State = "NEEDS_ATTENTION"
)

// Terminal reports whether no runner will touch an instance in state s again.
func (s State) Terminal() bool { return s == Completed || s == Compensated }

// CanTransition reports whether a saga may move from one state to another.
// Staying in the same state is allowed (a step completed, a retry was
// scheduled). The runner checks every write against it.
func CanTransition(from, to State) bool {
	if from == to {
		return !from.Terminal()
	}
	switch from {
	case Running:
		return to == Completed || to == Compensating || to == Compensated || to == NeedsAttention
	case Compensating:
		return to == Compensated || to == NeedsAttention
	case NeedsAttention:
		// Only by an operator: Retry, or Resolve.
		return to == Running || to == Compensating || to == Completed || to == Compensated
	}
	return false
}

// Op says which half of a step a record or attempt belongs to.
type Op string

// The two halves of a step.
const (
	OpAction     Op = "action"
	OpCompensate Op = "compensate"
)

// StepStatus is the status of one half of a step.
type StepStatus string

// Step statuses. A step half is DISPATCHED from the moment before its
// function is first called until its outcome is recorded; a DISPATCHED step
// found by a runner may have taken effect (the process died, or the last
// attempt failed with an outcome it could not know), so the runner resolves
// it before calling again.
const (
	StepDispatched StepStatus = "DISPATCHED"
	StepDone       StepStatus = "DONE"
	StepFailed     StepStatus = "FAILED"
)

// Result is what a step function returns on success, and optionally with an
// error.
type Result struct {
	// Output is kept with the step and given to later steps
	// (Attempt.StepOutput) and to this step's compensation (Attempt.Output).
	// Typically a small JSON document: the PG's payment key, the host's
	// order number.
	Output []byte
	// Commit, if set, runs in the transaction that records the step's
	// outcome, so the step's own database writes and its completion commit
	// together or not at all. It must only write through tx and must be
	// re-runnable (the transaction is retried on deadlocks). If it returns
	// an error the outcome is not recorded and the attempt counts as a
	// transient failure whose effect is unknown: the next attempt resolves
	// first.
	//
	// A function that fails may return a Result with Commit alongside its
	// error, for writes that record the failure (a payment marked FAILED);
	// they commit with the failure.
	Commit func(ctx context.Context, tx *sql.Tx) error
	// Carry, if set, is given to the next call of this instance as
	// Attempt.Carried when this runner makes that call right after
	// recording this one, without handing the instance back (the next
	// step of a run, inline or handed to a worker): what this step knows
	// that the next would otherwise read again. It is never stored; the
	// next step must work without it. It is read after Commit committed,
	// so it may point at what Commit wrote.
	Carry any
}

// Func is a step's action, its compensation or its resolve hook. It must be
// idempotent: it can be called again for the same saga after a crash, a
// timeout or a lost lease, with the same Attempt.IdempotencyKey, which it
// should pass to every external system that accepts one.
//
// Returning nil means the effect happened. Returning an error wrapped with
// Permanent means it definitely did not and never will; any other error is
// transient and the call is retried with backoff under the step's Policy.
// A panic is recovered and treated as a transient error.
type Func func(ctx context.Context, a Attempt) (Result, error)

// Step is one named step of a saga.
type Step struct {
	// Name identifies the step in records and idempotency keys; unique in
	// its definition, at most 64 bytes. Never rename a step that running
	// instances may still have to execute.
	Name string
	// Action does the step's work. Required.
	Action Func
	// Resolve, optional, is called instead of Action when a previous
	// attempt's outcome is unknown (the process died after dispatch, or the
	// attempt returned a transient error): it looks the effect up. It
	// returns a nil error and the Result when the effect is there,
	// ErrNotDone when it certainly is not (the runner then calls Action in
	// the same attempt), or another error to retry later. Without Resolve
	// the runner calls Action again, which must then be safe to repeat.
	Resolve Func
	// Compensate, optional, undoes the action. It runs, in reverse step
	// order, for every step that completed or whose outcome is unknown,
	// once a later step fails for good. It runs on a context the original
	// caller cannot cancel and is retried until it succeeds; a Permanent
	// error sends the saga to NEEDS_ATTENTION. It must cope with an action
	// that in fact never took effect.
	Compensate Func
	// Retry governs the action (and Resolve). The zero value means
	// DefaultPolicy; for a MustComplete step MaxAttempts is ignored.
	Retry Policy
	// CompensationRetry governs the compensation. MaxAttempts is ignored:
	// a compensation is retried until it succeeds or fails permanently.
	// The zero value means DefaultPolicy.
	CompensationRetry Policy
	// Pivot marks the point of no return: once a pivot step completed,
	// a later step that fails permanently or exhausts its policy sends the
	// saga to NEEDS_ATTENTION instead of compensating.
	Pivot bool
	// MustComplete marks a step that has no way back, typically one that
	// follows a money movement (rolling an order back after its refund,
	// sending a refund the host asked for). Its action never exhausts its
	// policy: a transient failure is retried without end on Retry's
	// backoff (MaxAttempts is ignored), raising Hooks.OnAlert every
	// AlertAfter attempts, and a permanent failure sends the saga to
	// NEEDS_ATTENTION with the error as its reason instead of
	// compensating. Either way the saga stays visible (Stuck) until the
	// step succeeds or an operator resolves it.
	MustComplete bool
	// Timeout bounds each call of Action, Resolve or Compensate; zero
	// means no bound beyond the caller's context.
	Timeout time.Duration
}

// Policy is a retry policy: how often and how fast a step is retried.
type Policy struct {
	// MaxAttempts is how many attempts the action gets before the step
	// counts as exhausted (then the saga compensates, or needs attention
	// after a pivot). Zero means the default; Unlimited retries forever.
	// Compensations and MustComplete steps ignore it: they never give up.
	MaxAttempts int
	// InitialBackoff is the wait after the first failed attempt; it doubles
	// per attempt up to MaxBackoff. Each wait is drawn uniformly from
	// [d/2, d] so instances that failed together do not retry together.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// AlertAfter raises Hooks.OnAlert when the attempt with this number
	// fails, and again at every multiple of it. Zero means the default.
	AlertAfter int
}

// Unlimited as Policy.MaxAttempts retries an action forever.
const Unlimited = -1

// DefaultPolicy fills the zero fields of a Policy.
var DefaultPolicy = Policy{
	MaxAttempts:    5,
	InitialBackoff: time.Second,
	MaxBackoff:     5 * time.Minute,
	AlertAfter:     5,
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultPolicy.MaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultPolicy.InitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(DefaultPolicy.MaxBackoff, p.InitialBackoff)
	}
	if p.AlertAfter <= 0 {
		p.AlertAfter = DefaultPolicy.AlertAfter
	}
	return p
}

// exhausted reports whether a step that failed its attempt-th attempt has
// used up the policy.
func (p Policy) exhausted(attempt int) bool {
	return p.MaxAttempts > 0 && attempt >= p.MaxAttempts
}

// Backoff returns the wait after the attempt-th failed attempt (1-based).
func (p Policy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	return retry.Backoff(p.InitialBackoff, p.MaxBackoff, attempt)
}

// Attempt tells a step function which call this is.
type Attempt struct {
	SagaID      string
	Definition  string
	BusinessKey string
	Step        string
	Op          Op
	// Number counts calls of this half of the step, from 1. It keeps
	// counting across crashes and lease takeovers.
	Number int
	// Recovering is true when an earlier attempt's outcome is unknown.
	Recovering bool
	// IdempotencyKey is the same for every attempt of this half of this
	// step of this saga: "<saga id>:<step>:<op>". Pass it to external
	// systems that deduplicate requests.
	IdempotencyKey string
	// Payload is what Start was given.
	Payload []byte
	// Output is, for a compensation or a resolve, the output the action
	// recorded (nil if the action's outcome is unknown).
	Output []byte
	// Carried is the Result.Carry of the call this runner recorded just
	// before this one, when it went on with the instance without handing
	// it back; nil otherwise (after a claim, a retry, a crash).
	Carried any

	outputs map[string][]byte
}

// StepOutput returns the output recorded by an earlier step that completed,
// or nil.
func (a Attempt) StepOutput(step string) []byte { return a.outputs[step] }

// Definition is a named, ordered list of steps. Register it with a Runner
// before starting or running instances of it; every process that runs it must
// register the same steps.
type Definition struct {
	// Name identifies the definition; at most 64 bytes.
	Name  string
	Steps []Step

	index map[string]int
}

// maxName is the longest definition or step name the schema stores.
const maxName = 64

func (d *Definition) validate() error {
	if d == nil {
		return fmt.Errorf("%w: nil definition", ErrInvalid)
	}
	if d.Name == "" || len(d.Name) > maxName {
		return fmt.Errorf("%w: definition name %q must be 1 to %d bytes", ErrInvalid, d.Name, maxName)
	}
	if len(d.Steps) == 0 {
		return fmt.Errorf("%w: definition %q has no steps", ErrInvalid, d.Name)
	}
	index := make(map[string]int, len(d.Steps))
	for i, s := range d.Steps {
		if s.Name == "" || len(s.Name) > maxName {
			return fmt.Errorf("%w: definition %q step %d: name %q must be 1 to %d bytes", ErrInvalid, d.Name, i, s.Name, maxName)
		}
		if _, dup := index[s.Name]; dup {
			return fmt.Errorf("%w: definition %q: step name %q used twice", ErrInvalid, d.Name, s.Name)
		}
		if s.Action == nil {
			return fmt.Errorf("%w: definition %q step %q has no action", ErrInvalid, d.Name, s.Name)
		}
		if s.Retry.MaxAttempts < Unlimited {
			return fmt.Errorf("%w: definition %q step %q: MaxAttempts %d", ErrInvalid, d.Name, s.Name, s.Retry.MaxAttempts)
		}
		index[s.Name] = i
	}
	d.index = index
	return nil
}
