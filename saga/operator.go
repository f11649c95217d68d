package saga

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Get returns an instance with its step records, or an error wrapping
// ErrNotFound.
func (r *Runner) Get(ctx context.Context, id string) (*Instance, error) {
	rec, err := r.store.Instance(ctx, nil, id)
	if err != nil {
		return nil, fmt.Errorf("saga: get %q: %w", id, err)
	}
	return r.withSteps(ctx, rec)
}

// GetByKey returns the instance of a definition for a business key, with its
// step records, or an error wrapping ErrNotFound.
func (r *Runner) GetByKey(ctx context.Context, definition, businessKey string) (*Instance, error) {
	rec, err := r.store.InstanceByKey(ctx, nil, definition, businessKey)
	if err != nil {
		return nil, fmt.Errorf("saga: get %q %q: %w", definition, businessKey, err)
	}
	return r.withSteps(ctx, rec)
}

func (r *Runner) withSteps(ctx context.Context, rec InstanceRecord) (*Instance, error) {
	steps, err := r.store.Steps(ctx, nil, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("saga: steps of %s: %w", rec.ID, err)
	}
	return &Instance{InstanceRecord: rec, Steps: steps}, nil
}

// List returns instances matching f (without step records), oldest change
// first.
func (r *Runner) List(ctx context.Context, f Filter) ([]InstanceRecord, error) {
	recs, err := r.store.Instances(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("saga: list: %w", err)
	}
	return recs, nil
}

// Stuck lists instances that are still not terminal longer than olderThan
// after they started: RUNNING or COMPENSATING ones whose retries keep
// failing or whose runners are gone, and NEEDS_ATTENTION ones waiting for an
// operator.
func (r *Runner) Stuck(ctx context.Context, olderThan time.Duration, limit int) ([]InstanceRecord, error) {
	return r.List(ctx, Filter{
		States:        []State{Running, Compensating, NeedsAttention},
		CreatedBefore: r.now().Add(-olderThan),
		Limit:         limit,
	})
}

// OperatorOption adds to what Retry and Resolve do.
type OperatorOption func(*operatorOptions)

type operatorOptions struct {
	commit func(ctx context.Context, tx *sql.Tx, in *Instance) error
}

// AlsoCommit makes Retry or Resolve call fn in the transaction that
// changes the instance, after the change, with the instance as changed: what
// fn writes through tx (the operator's action in an audit log) commits with
// the change or not at all. An error from fn rolls the change back and is
// returned.
func AlsoCommit(fn func(ctx context.Context, tx *sql.Tx, in *Instance) error) OperatorOption {
	return func(o *operatorOptions) { o.commit = fn }
}

func operatorOpts(opts []OperatorOption) operatorOptions {
	var o operatorOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Retry sends a NEEDS_ATTENTION instance back to the state it left, once an
// operator fixed the cause: the step half that failed is tried again (its
// attempt count restarts, a permanent failure is forgotten) and the
// instance is due at once. Retry of an instance in another state returns
// an error wrapping ErrInvalidState and changes nothing.
func (r *Runner) Retry(ctx context.Context, id string, opts ...OperatorOption) (*Instance, error) {
	o := operatorOpts(opts)
	var out *Instance
	err := r.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rec, err := r.store.Instance(ctx, tx, id)
		if err != nil {
			return err
		}
		if rec.State != NeedsAttention {
			return fmt.Errorf("%w: instance is %s, not %s", ErrInvalidState, rec.State, NeedsAttention)
		}
		def, ok := r.definition(rec.Definition)
		if !ok {
			return ErrUnknownDefinition
		}
		resume := rec.ResumeState
		if resume != Running && resume != Compensating {
			return fmt.Errorf("%w: no state to resume (%q)", ErrInvalidState, resume)
		}
		steps, err := r.store.Steps(ctx, tx, id)
		if err != nil {
			return err
		}
		// The step the instance resumes at starts its attempts afresh.
		var reset bool
		if rec.StepIndex >= 0 && rec.StepIndex < len(def.Steps) {
			op := OpAction
			if resume == Compensating {
				op = OpCompensate
			}
			for i, s := range steps {
				if s.Step == def.Steps[rec.StepIndex].Name && s.Op == op && s.Status != StepDone {
					s.Status = StepDispatched
					s.Attempts = 0
					s.UpdatedAt = r.now()
					steps[i], reset = s, true
				}
			}
		}
		next := rec
		next.State = resume
		next.ResumeState = ""
		next.Reason = ""
		next.LeaseOwner, next.LeaseToken = "", ""
		next.RunAt = r.now()
		next.UpdatedAt = next.RunAt
		next.Version = rec.Version + 1
		u := InstanceUpdate{Record: next, PrevVersion: rec.Version}
		if reset {
			u.Steps = steps
		}
		ok, err = r.store.UpdateInstance(ctx, tx, u)
		if err != nil {
			return err
		}
		if !ok {
			return ErrConcurrent
		}
		out = &Instance{InstanceRecord: next, Steps: steps}
		if o.commit != nil {
			return o.commit(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("saga: retry %q: %w", id, err)
	}
	r.log.Info("saga: retried by operator", "saga_id", id, "state", out.State)
	if h := r.cfg.Hooks.OnTransition; h != nil {
		h(Transition{SagaID: out.ID, Definition: out.Definition, BusinessKey: out.BusinessKey,
			From: NeedsAttention, To: out.State, At: out.UpdatedAt})
	}
	r.notify()
	return out, nil
}

// maxNote is the longest operator note Resolve keeps.
const maxNote = 1024

// Resolve ends an instance whose remaining work an operator did by hand (a
// refund paid by bank transfer, an order canceled in the shop's console):
// one that NEEDS_ATTENTION, or one that keeps retrying a step. It becomes
// terminal — COMPLETED when it was going forward, COMPENSATED when it was
// compensating — with "resolved by an operator: <note>" as its reason, and
// no step of it runs again. The note is required. An instance a runner is
// working on right now is ErrInvalidState (try again once its call
// returned); a terminal one too.
func (r *Runner) Resolve(ctx context.Context, id, note string, opts ...OperatorOption) (*Instance, error) {
	o := operatorOpts(opts)
	if note == "" || len(note) > maxNote {
		return nil, fmt.Errorf("%w: resolving needs a note of 1 to %d bytes", ErrInvalid, maxNote)
	}
	var out *Instance
	var from State
	err := r.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rec, err := r.store.Instance(ctx, tx, id)
		if err != nil {
			return err
		}
		from = rec.State
		now := r.now()
		var to State
		switch {
		case rec.State == Running, rec.State == NeedsAttention && rec.ResumeState == Running:
			to = Completed
		case rec.State == Compensating, rec.State == NeedsAttention && rec.ResumeState == Compensating:
			to = Compensated
		default:
			return fmt.Errorf("%w: instance is %s", ErrInvalidState, rec.State)
		}
		if rec.LeaseToken != "" && rec.RunAt.After(now) {
			return fmt.Errorf("%w: a runner is working on the instance; try again shortly", ErrInvalidState)
		}
		next := rec
		next.State = to
		next.ResumeState = ""
		next.Reason = "resolved by an operator: " + note
		next.LeaseOwner, next.LeaseToken = "", ""
		next.RunAt = time.Time{}
		next.UpdatedAt = now
		next.Version = rec.Version + 1
		ok, err := r.store.UpdateInstance(ctx, tx, InstanceUpdate{Record: next, PrevVersion: rec.Version})
		if err != nil {
			return err
		}
		if !ok {
			return ErrConcurrent
		}
		steps, err := r.store.Steps(ctx, tx, id)
		if err != nil {
			return err
		}
		out = &Instance{InstanceRecord: next, Steps: steps}
		if o.commit != nil {
			return o.commit(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("saga: resolve %q: %w", id, err)
	}
	r.log.Info("saga: resolved by operator", "saga_id", id, "from", from, "state", out.State, "note", note)
	if h := r.cfg.Hooks.OnTransition; h != nil {
		h(Transition{SagaID: out.ID, Definition: out.Definition, BusinessKey: out.BusinessKey,
			From: from, To: out.State, Reason: out.Reason, At: out.UpdatedAt})
	}
	return out, nil
}

// Wake makes a waiting instance due at once, in the caller's transaction:
// news it was waiting for arrived (a webhook settled the outcome a step was
// looking up on its backoff schedule). It changes only an instance that is
// running or compensating; any other instance, or none for the key, is left
// alone and Wake returns nil.
//
// An instance no runner holds and that is not yet due becomes due now. An
// instance a runner holds — a step attempt in flight, which may have looked
// before the news arrived — keeps its lease and version, and the wake-up
// takes effect when the runner records that attempt's outcome: if the
// attempt failed, its retry is due at once instead of after the backoff.
// Wake decides in one write on the instance as it is then, so the wake-up
// is not lost whichever of the caller's transaction and the runner's write
// commits first.
func (r *Runner) Wake(ctx context.Context, tx *sql.Tx, definition, businessKey string) error {
	if tx == nil {
		return fmt.Errorf("%w: Wake needs the caller's transaction", ErrInvalid)
	}
	woke, err := r.store.WakeInstance(ctx, tx, definition, businessKey, r.now())
	if err != nil {
		return fmt.Errorf("saga: wake %q %q: %w", definition, businessKey, err)
	}
	if woke {
		r.notify()
	}
	return nil
}
