package saga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/claimloop"
	"github.com/paygate/paygate/internal/retry"
	"github.com/paygate/paygate/internal/telemetry"
)

type stepKey struct {
	step string
	op   Op
}

// job is one leased instance a runner works on, with what it knows of it.
type job struct {
	def   *Definition
	inst  InstanceRecord
	steps map[stepKey]StepRecord
	// dispatched: the next unit of work was recorded as dispatched by this
	// lease holder's last write, so it can be called without another one.
	dispatched bool
	// recovering: when the next unit was dispatched, an earlier attempt of
	// it had an unknown outcome.
	recovering bool
	// carry is the Result.Carry of the call recorded last, for the next
	// call when it follows without a hand-back.
	carry any
}

func newJob(def *Definition, inst InstanceRecord, steps []StepRecord) *job {
	j := &job{def: def, inst: inst, steps: make(map[stepKey]StepRecord, len(steps))}
	for _, s := range steps {
		j.steps[stepKey{s.Step, s.Op}] = s
	}
	return j
}

// predispatch returns the record of unit u, as found in steps, marked
// dispatched for one more attempt, and notes in j that u is dispatched and
// whether an earlier attempt's outcome is unknown.
func (j *job) predispatch(steps map[stepKey]StepRecord, u unit, now time.Time) StepRecord {
	key := stepKey{j.def.Steps[u.index].Name, u.op}
	row, exists := steps[key]
	if !exists {
		row = StepRecord{SagaID: j.inst.ID, Step: key.step, Op: u.op}
	}
	j.recovering = exists && row.Status == StepDispatched
	j.dispatched = true
	row.Status = StepDispatched
	row.Attempts++
	row.UpdatedAt = now
	return row
}

func (j *job) stepList() []StepRecord { return orderedSteps(j.def, j.steps) }

// withRows returns every step record of j with rows written over them, in
// the order orderedSteps gives, or nil when there are no rows (the stored
// records stay as they are).
func (j *job) withRows(rows []StepRecord) []StepRecord {
	if len(rows) == 0 {
		return nil
	}
	steps := make(map[stepKey]StepRecord, len(j.steps)+len(rows))
	for k, v := range j.steps {
		steps[k] = v
	}
	for _, row := range rows {
		steps[stepKey{row.Step, row.Op}] = row
	}
	return orderedSteps(j.def, steps)
}

// orderedSteps lists steps in def's order, each step's action before its
// compensation, then any record of a step def does not name (an instance
// started under an earlier definition) by name and op, so that rewriting
// an instance's records never drops one.
func orderedSteps(def *Definition, steps map[stepKey]StepRecord) []StepRecord {
	out := make([]StepRecord, 0, len(steps))
	named := make(map[string]bool, len(def.Steps))
	for i := range def.Steps {
		named[def.Steps[i].Name] = true
		for _, op := range []Op{OpAction, OpCompensate} {
			if s, ok := steps[stepKey{def.Steps[i].Name, op}]; ok {
				out = append(out, s)
			}
		}
	}
	if len(out) == len(steps) {
		return out
	}
	start := len(out)
	for k, s := range steps {
		if !named[k.step] {
			out = append(out, s)
		}
	}
	extra := out[start:]
	sort.Slice(extra, func(a, b int) bool {
		if extra[a].Step != extra[b].Step {
			return extra[a].Step < extra[b].Step
		}
		return extra[a].Op < extra[b].Op
	})
	return out
}

func (j *job) logAttrs(extra ...any) []any {
	return append([]any{"saga_id", j.inst.ID, "definition", j.inst.Definition, "state", j.inst.State}, extra...)
}

// unit is one call to make: a step's action or its compensation.
type unit struct {
	index int
	op    Op
}

// nextUnit says what an instance in state inst with step records steps
// needs done next; ok is false when nothing is left in its state (RUNNING
// past the last step, COMPENSATING with nothing left to compensate) or the
// state is not one a runner works in.
func nextUnit(def *Definition, inst InstanceRecord, steps map[stepKey]StepRecord) (unit, bool) {
	switch inst.State {
	case Running:
		if inst.StepIndex >= 0 && inst.StepIndex < len(def.Steps) {
			return unit{inst.StepIndex, OpAction}, true
		}
	case Compensating:
		for k := min(inst.StepIndex, len(def.Steps)-1); k >= 0; k-- {
			s := def.Steps[k]
			if s.Compensate == nil {
				continue
			}
			a, ok := steps[stepKey{s.Name, OpAction}]
			if !ok || a.Status == StepFailed {
				continue // never called, or certainly without effect
			}
			if c, ok := steps[stepKey{s.Name, OpCompensate}]; ok && c.Status == StepDone {
				continue
			}
			return unit{k, OpCompensate}, true
		}
	}
	return unit{}, false
}

// settle finishes a state with nothing left to do in it.
func settle(def *Definition, next *InstanceRecord, steps map[stepKey]StepRecord) {
	if _, ok := nextUnit(def, *next, steps); ok {
		return
	}
	switch next.State {
	case Running:
		if next.StepIndex >= len(def.Steps) {
			next.State = Completed
		} else {
			next.State = NeedsAttention
			next.ResumeState = Running
			next.Reason = fmt.Sprintf("step index %d outside definition %q (%d steps)", next.StepIndex, def.Name, len(def.Steps))
		}
	case Compensating:
		next.State = Compensated
	}
}

// outcome is what a call returned.
type outcome struct {
	res      Result
	err      error
	resolved bool // the Resolve hook answered
	// span is the call's span, ended once the outcome is recorded.
	span trace.Span
}

// budget < 0 is unlimited. stop, when closed, makes the runner hand the
// instance back after the call in flight. handedOff, when not nil, lets the
// call that spends the budget hand the instance to a free worker slot of
// this runner's Run instead of releasing it: its next unit is dispatched in
// the write that records the call, handedOff is called with j as written,
// and the slot's worker drives j on from there.
func (r *Runner) drive(ctx context.Context, j *job, budget int, stop <-chan struct{}, handedOff func(*job)) error {
	bookkeeping := context.WithoutCancel(ctx)
	for {
		u, ok := nextUnit(j.def, j.inst, j.steps)
		if !ok {
			if j.inst.State == Running || j.inst.State == Compensating {
				next := j.inst
				settle(j.def, &next, j.steps)
				return r.write(bookkeeping, j, r.release(next, time.Time{}), nil, nil)
			}
			return nil
		}
		if !j.dispatched {
			if err := r.dispatch(bookkeeping, j, u); err != nil {
				return err
			}
		}
		out := r.call(ctx, j, u)
		if budget > 0 {
			budget--
		}
		more := budget != 0
		select {
		case <-stop:
			more = false
		default:
		}
		var slot *claimloop.Reservation
		if !more && handedOff != nil {
			slot, more = r.pool.Reserve()
		}
		// The step's commit runs in its span: events it emits carry it.
		cont, err := r.record(trace.ContextWithSpan(bookkeeping, out.span), j, u, out, more)
		telemetry.Fail(out.span, err)
		out.span.End()
		if err == nil && cont {
			j.carry = out.res.Carry
		}
		if slot != nil {
			if err != nil || !cont {
				slot.Cancel()
				return err
			}
			handedOff(j)
			slot.Go(func(ctx context.Context, stop <-chan struct{}) { r.work(ctx, j, stop) })
			return nil
		}
		if err != nil || !cont {
			return err
		}
	}
}

// release returns next with its lease given up and due at runAt (zero: not
// due, for terminal and NEEDS_ATTENTION states).
func (r *Runner) release(next InstanceRecord, runAt time.Time) InstanceRecord {
	next.LeaseOwner, next.LeaseToken = "", ""
	next.RunAt = runAt
	if next.State.Terminal() || next.State == NeedsAttention {
		next.RunAt = time.Time{}
	}
	return next
}

func (r *Runner) dispatch(ctx context.Context, j *job, u unit) error {
	now := r.now()
	row := j.predispatch(j.steps, u, now)
	next := j.inst
	next.RunAt = now.Add(r.cfg.Lease)
	if err := r.write(ctx, j, next, []StepRecord{row}, nil); err != nil {
		j.dispatched = false
		return err
	}
	return nil
}

func (r *Runner) call(ctx context.Context, j *job, u unit) outcome {
	step := j.def.Steps[u.index]
	row := j.steps[stepKey{step.Name, u.op}]
	a := Attempt{
		SagaID:         j.inst.ID,
		Definition:     j.inst.Definition,
		BusinessKey:    j.inst.BusinessKey,
		Step:           step.Name,
		Op:             u.op,
		Number:         row.Attempts,
		Recovering:     j.recovering,
		IdempotencyKey: j.inst.ID + ":" + step.Name + ":" + string(u.op),
		Payload:        j.inst.Payload,
		Carried:        j.carry,
		outputs:        map[string][]byte{},
	}
	j.carry = nil
	for _, s := range j.def.Steps {
		if rec, ok := j.steps[stepKey{s.Name, OpAction}]; ok && rec.Status == StepDone {
			a.outputs[s.Name] = rec.Output
		}
	}
	a.Output = a.outputs[step.Name]
	if u.op == OpCompensate {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, span := r.startSpan(ctx, j, u, a)
	stopBeat := r.heartbeat(ctx, j)
	defer stopBeat()

	started := time.Now()
	var out outcome
	if u.op == OpAction && j.recovering && step.Resolve != nil {
		out.res, out.err = invoke(ctx, step.Timeout, step.Resolve, a)
		out.resolved = !errors.Is(out.err, ErrNotDone)
	}
	if !out.resolved {
		fn := step.Action
		if u.op == OpCompensate {
			fn = step.Compensate
		}
		out.res, out.err = invoke(ctx, step.Timeout, fn, a)
	}
	out.span = span
	r.observe(ctx, span, a, out)
	if h := r.cfg.Hooks.OnStep; h != nil {
		h(StepEvent{
			SagaID: a.SagaID, Definition: a.Definition, BusinessKey: a.BusinessKey, Step: a.Step,
			Op: u.op, Attempt: a.Number, Resolved: out.resolved, Duration: time.Since(started), Err: out.err,
		})
	}
	return out
}

// startSpan starts the span of a step call, in the trace of the span that
// started the instance (or ctx's, for instances started without one).
func (r *Runner) startSpan(ctx context.Context, j *job, u unit, a Attempt) (context.Context, trace.Span) {
	parent := telemetry.WithTraceParent(ctx, j.inst.TraceParent)
	name := "saga " + a.Definition + "." + a.Step
	if u.op == OpCompensate {
		name += " compensate"
	}
	return r.tel.Tracer.Start(parent, name, trace.WithAttributes(
		telemetry.SagaDef.String(a.Definition), telemetry.SagaStep.String(a.Step), telemetry.SagaOp.String(string(u.op)),
		telemetry.SagaID.String(a.SagaID), telemetry.Attempt.Int(a.Number), telemetry.Recovering.Bool(a.Recovering),
	))
}

// observe records a step call's outcome in its span and the metrics.
func (r *Runner) observe(ctx context.Context, span trace.Span, a Attempt, out outcome) {
	outcome := "done"
	switch {
	case out.err == nil:
	case IsPermanent(out.err):
		outcome = "failed"
	default:
		outcome = "error"
	}
	attrs := metric.WithAttributes(telemetry.SagaDef.String(a.Definition), telemetry.SagaStep.String(a.Step),
		telemetry.SagaOp.String(string(a.Op)))
	r.tel.Steps.Add(ctx, 1, attrs, metric.WithAttributes(telemetry.Outcome.String(outcome)))
	if a.Number > 1 {
		r.tel.Retries.Add(ctx, 1, attrs)
	}
	if span.IsRecording() {
		span.SetAttributes(telemetry.Outcome.String(outcome), attribute.Bool(string(telemetry.Resolved), out.resolved))
		telemetry.Fail(span, out.err)
	}
}

// invoke calls fn, turning a panic into an error.
func invoke(ctx context.Context, timeout time.Duration, fn Func, a Attempt) (res Result, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, &retry.PanicError{Value: v}
		}
	}()
	return fn(ctx, a)
}

// heartbeat extends the lease while a step function runs.
func (r *Runner) heartbeat(ctx context.Context, j *job) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	id, token, version := j.inst.ID, j.inst.LeaseToken, j.inst.Version
	go func() {
		defer close(done)
		t := time.NewTicker(max(r.cfg.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var ok bool
			err := r.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				var err error
				ok, err = r.store.ExtendLease(ctx, tx, id, token, version, r.now().Add(r.cfg.Lease))
				return err
			})
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				r.log.Warn("saga: extend lease", "saga_id", id, "err", err)
			case !ok:
				r.log.Warn("saga: lease lost while a step runs; its outcome will be refused", "saga_id", id)
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// commitError is an error returned by a step's Result.Commit.
type commitError struct{ err error }

func (c *commitError) Error() string { return "step commit: " + c.err.Error() }
func (c *commitError) Unwrap() error { return c.err }

// record writes the outcome of a call and decides what comes next. It reports
// whether this runner goes on with the instance.
func (r *Runner) record(ctx context.Context, j *job, u unit, out outcome, more bool) (bool, error) {
	next, rows, alert := r.plan(j, u, out, more)
	err := r.write(ctx, j, next, rows, out.res.Commit)
	var ce *commitError
	if errors.As(err, &ce) {
		// The step's own writes failed: record nothing of its outcome,
		// which stays unknown, and let a later attempt resolve it.
		r.log.Warn("saga: step outcome not recorded", j.logAttrs("step", rows[0].Step, "op", u.op, "err", err)...)
		out = outcome{err: err}
		next, rows, alert = r.plan(j, u, out, false)
		err = r.write(ctx, j, next, rows, nil)
	}
	if err != nil {
		return false, err
	}
	if alert != nil {
		r.alert(j, *alert)
	}
	return j.dispatched, nil
}

func (r *Runner) alert(j *job, a Alert) {
	r.log.Error("saga: alert", j.logAttrs("step", a.Step, "op", a.Op, "attempts", a.Attempts, "needs_attention", a.NeedsAttention, "err", a.Err)...)
	if h := r.cfg.Hooks.OnAlert; h != nil {
		h(a)
	}
}

// plan computes the instance and step records that record writes. It sets
// j.dispatched and j.recovering for the unit it pre-dispatches, if any.
func (r *Runner) plan(j *job, u unit, out outcome, more bool) (InstanceRecord, []StepRecord, *Alert) {
	now := r.now()
	step := j.def.Steps[u.index]
	key := stepKey{step.Name, u.op}
	row := j.steps[key]
	row.UpdatedAt = now
	next := j.inst
	var alert *Alert
	newAlert := func(needs bool) *Alert {
		return &Alert{
			SagaID: j.inst.ID, Definition: j.inst.Definition, BusinessKey: j.inst.BusinessKey,
			Step: step.Name, Op: u.op, Attempts: row.Attempts, Err: out.err, NeedsAttention: needs,
		}
	}
	retryAt := time.Time{}
	switch {
	case out.err == nil:
		row.Status = StepDone
		row.Output = out.res.Output
		row.LastError = ""
		if u.op == OpAction {
			next.StepIndex = u.index + 1
			next.Reason = ""
		} else {
			next.StepIndex = u.index - 1
		}
	case IsPermanent(out.err):
		row.Status = StepFailed
		row.LastError = out.err.Error()
		switch {
		case u.op == OpAction && step.MustComplete:
			// No way back: an operator decides (Retry or Resolve).
			next.State = NeedsAttention
			next.ResumeState = Running
			next.StepIndex = u.index
			next.Reason = fmt.Sprintf("step %q refused: %v", step.Name, out.err)
		case u.op == OpAction:
			r.fail(j, &next, u.index, u.index-1, fmt.Sprintf("step %q failed: %v", step.Name, out.err))
		default:
			next.State = NeedsAttention
			next.ResumeState = Compensating
			next.StepIndex = u.index
			next.Reason = fmt.Sprintf("compensation of step %q refused: %v", step.Name, out.err)
		}
		if next.State == NeedsAttention {
			alert = newAlert(true)
		}
	default:
		row.LastError = out.err.Error()
		policy := step.Retry.withDefaults()
		if step.MustComplete {
			policy.MaxAttempts = Unlimited
		}
		if u.op == OpCompensate {
			policy = step.CompensationRetry.withDefaults()
			policy.MaxAttempts = Unlimited
		} else if next.State == Running {
			// Visible to operators while the step keeps failing.
			next.Reason = fmt.Sprintf("step %q attempt %d failed: %v", step.Name, row.Attempts, out.err)
		}
		if policy.exhausted(row.Attempts) {
			r.fail(j, &next, u.index, u.index, fmt.Sprintf("step %q gave up after %d attempts: %v", step.Name, row.Attempts, out.err))
			if next.State == NeedsAttention {
				alert = newAlert(true)
			}
		} else {
			retryAt = now.Add(policy.Backoff(row.Attempts))
			if row.Attempts%policy.AlertAfter == 0 {
				alert = newAlert(false)
			}
		}
	}
	steps := make(map[stepKey]StepRecord, len(j.steps)+1)
	for k, v := range j.steps {
		steps[k] = v
	}
	steps[key] = row
	rows := []StepRecord{row}
	j.dispatched, j.recovering = false, false

	switch {
	case !retryAt.IsZero():
		next = r.release(next, retryAt)
	default:
		settle(j.def, &next, steps)
		nu, ok := nextUnit(j.def, next, steps)
		switch {
		case !ok:
			next = r.release(next, time.Time{})
		case more:
			rows = append(rows, j.predispatch(steps, nu, now))
			next.RunAt = now.Add(r.cfg.Lease)
		default:
			next = r.release(next, now)
		}
	}
	if next.State != NeedsAttention {
		next.ResumeState = ""
	}
	return next, rows, alert
}

// fail moves next out of RUNNING after step failed: to COMPENSATING from
// step compensateFrom down, or to NEEDS_ATTENTION if a pivot step before it
// completed.
func (r *Runner) fail(j *job, next *InstanceRecord, failed, compensateFrom int, reason string) {
	next.Reason = reason
	for k := 0; k < failed; k++ {
		s := j.def.Steps[k]
		if rec, ok := j.steps[stepKey{s.Name, OpAction}]; ok && s.Pivot && rec.Status == StepDone {
			next.State = NeedsAttention
			next.ResumeState = Running
			next.StepIndex = failed
			next.Reason = reason + fmt.Sprintf(" after pivot step %q completed", s.Name)
			return
		}
	}
	next.State = Compensating
	next.StepIndex = compensateFrom
}

// write commits next (compare-and-set on the version j holds) with j's step
// records and rows written over them, and the step's commit function, in
// one transaction, and updates j.
func (r *Runner) write(ctx context.Context, j *job, next InstanceRecord, rows []StepRecord, commit func(context.Context, *sql.Tx) error) error {
	if !CanTransition(j.inst.State, next.State) {
		return fmt.Errorf("saga: %s: illegal transition %s -> %s", j.inst.ID, j.inst.State, next.State)
	}
	next.Version = j.inst.Version + 1
	next.UpdatedAt = r.now()
	err := r.submit(&pendingWrite{ctx: ctx, j: j, next: next, rows: rows, steps: j.withRows(rows), commit: commit})
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return fmt.Errorf("saga: write %s version %d: %w", next.ID, next.Version, ErrLeaseLost)
		}
		var ce *commitError
		if errors.As(err, &ce) {
			return ce
		}
		return fmt.Errorf("saga: write %s: %w", next.ID, err)
	}
	prev := j.inst
	j.inst = next
	for _, row := range rows {
		j.steps[stepKey{row.Step, row.Op}] = row
	}
	if prev.State != next.State {
		level := slog.LevelInfo
		if next.State == Completed {
			level = slog.LevelDebug
		}
		r.log.Log(ctx, level, "saga: state changed", "saga_id", next.ID, "definition", next.Definition,
			"from", prev.State, "to", next.State, "reason", next.Reason)
		if h := r.cfg.Hooks.OnTransition; h != nil {
			h(Transition{
				SagaID: next.ID, Definition: next.Definition, BusinessKey: next.BusinessKey,
				From: prev.State, To: next.State, Reason: next.Reason, At: next.UpdatedAt,
			})
		}
	} else if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.Debug("saga: written", "saga_id", next.ID, "version", next.Version, "step_index", next.StepIndex)
	}
	return nil
}

// writeAlone commits w in a transaction of its own.
func (r *Runner) writeAlone(w *pendingWrite) error {
	j, next := w.j, w.next
	return r.store.InTx(w.ctx, func(ctx context.Context, tx *sql.Tx) error {
		ok, err := r.store.UpdateInstance(ctx, tx, InstanceUpdate{Record: next, PrevVersion: j.inst.Version, Steps: w.steps})
		if err != nil {
			return err
		}
		if !ok {
			cur, err := r.store.Instance(ctx, tx, next.ID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil && sameWrite(cur, next) {
				// An earlier run of this transaction committed but its
				// commit reported an error: it is done.
				return nil
			}
			return ErrLeaseLost
		}
		if w.commit != nil {
			if err := runCommit(ctx, tx, w.commit); err != nil {
				return &commitError{err: err}
			}
		}
		return nil
	})
}

// sameWrite reports whether the stored instance cur is the one write was
// about to produce: only the lease holder moves a version forward, so the
// same version with the same lease, state and step means the write landed.
func sameWrite(cur, next InstanceRecord) bool {
	return cur.Version == next.Version && cur.LeaseToken == next.LeaseToken &&
		cur.State == next.State && cur.StepIndex == next.StepIndex
}

func runCommit(ctx context.Context, tx *sql.Tx, commit func(context.Context, *sql.Tx) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &retry.PanicError{Value: v}
		}
	}()
	return commit(ctx, tx)
}
