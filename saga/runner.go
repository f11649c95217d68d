package saga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/claimloop"
	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/internal/txgroup"
)

// Clock tells the time. Tests inject one to move time (lease expiry, backoff)
// without sleeping; timers that only pace polling use real time.
type Clock = claimloop.Clock

// Loop configures the claim loop a Runner shares with the outbox
// (outbox.Loop is the same type): Lease, PollInterval, Concurrency (how
// many instances Run works on at once; default 64), ClaimBatch (how many due
// instances one claim transaction leases at most; default Concurrency),
// ClaimBackoff, Clock and Logger. The runner extends a lease while a step
// function runs, so a long call alone does not lose it. See
// claimloop.Config for every field and its default.
type Loop = claimloop.Config

// DefaultConcurrency is how many instances a Runner works on at once when
// RunnerConfig.Concurrency is zero. Slots are cheap (a goroutine, and a
// connection only while a transaction runs: writes ready together share
// one), and the step after an inline one runs in a free slot without a
// claim (RunInline): with too few, under load, the steps handed to slots
// take them all and instances released for a claim wait seconds for one
// (the flow benchmark at 32 buyers: the order's p99 4.5 s with 32 slots,
// 3 ms with 64).
const DefaultConcurrency = 64

// RunnerConfig configures a Runner. Zero fields take the documented
// defaults.
type RunnerConfig struct {
	Loop
	// Owner names this runner in lease records, for operators; default
	// "<hostname>/<pid>/<random>".
	Owner string
	// Hooks observe the runner; all optional.
	Hooks Hooks
	// MeterProvider and TracerProvider receive the runner's metrics
	// (paygate.saga.steps, paygate.saga.retries) and a span per step call,
	// which joins the trace of the span that started the instance; nil
	// means the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	// WriteGroup is how many instances' writes (a step's outcome with its
	// commit, a dispatch) the runner commits in one transaction at most,
	// when several are ready at the same moment; default
	// DefaultWriteGroup, 1 commits each alone. A write never waits for
	// others to join: when no group transaction runs it starts one at
	// once; while one runs it joins the next, which starts when that one
	// ends, with every write that arrived meanwhile (a second runs beside
	// it only when a full group waits, or when a write arrives after the
	// running one has taken 50 ms).
	WriteGroup int
}

// Hooks are called synchronously after the change they report has
// committed. They must be quick and must not call back into the runner.
type Hooks struct {
	// OnTransition reports every committed change of an instance's state,
	// in the goroutine that made it. Changes of one instance made by
	// different goroutines (one handed back due at once, then claimed and
	// changed again) can be reported in another order than they
	// committed; Transition.At orders them.
	OnTransition func(Transition)
	// OnStep reports every finished call of an action, resolve or
	// compensation, whatever its outcome.
	OnStep func(StepEvent)
	// OnAlert reports a step that keeps failing (every Policy.AlertAfter
	// attempts) and every saga that moved to NEEDS_ATTENTION.
	OnAlert func(Alert)
}

// Transition is a committed state change of an instance.
type Transition struct {
	SagaID, Definition, BusinessKey string
	From, To                        State
	Reason                          string
	At                              time.Time
}

// StepEvent is one finished call of a step function.
type StepEvent struct {
	SagaID, Definition, BusinessKey, Step string
	Op                                    Op
	Attempt                               int
	Resolved                              bool
	Duration                              time.Duration
	Err                                   error
}

// Alert asks a human to look: a step failing again and again, or a saga that
// needs attention.
type Alert struct {
	SagaID, Definition, BusinessKey, Step string
	Op                                    Op
	Attempts                              int
	Err                                   error
	NeedsAttention                        bool
}

// Runner starts saga instances and runs them to a terminal state. Any number
// of runners, in any number of processes, may share one database: each
// instance is worked on by one runner at a time, under a lease.
type Runner struct {
	store Store
	cfg   RunnerConfig
	log   *slog.Logger

	mu    sync.RWMutex
	defs  map[string]*Definition
	names []string

	wake    *claimloop.Signal
	pool    *claimloop.Pool
	group   *txgroup.Group[*pendingWrite]
	pulse   claimloop.Pulse
	running atomic.Bool
	tel     *telemetry.Saga
}

// NewRunner returns a runner over store. Register definitions before
// starting or running instances.
func NewRunner(store Store, cfg RunnerConfig) *Runner {
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	cfg.Loop = cfg.Loop.WithDefaults(DefaultConcurrency, 0)
	if cfg.WriteGroup <= 0 {
		cfg.WriteGroup = DefaultWriteGroup
	}
	r := &Runner{
		store: store,
		cfg:   cfg,
		log:   cfg.Logger.With("component", "saga", "owner", cfg.Owner),
		defs:  map[string]*Definition{},
		wake:  claimloop.NewSignal(),
		pool:  claimloop.NewPool(cfg.Concurrency),
		tel:   telemetry.NewSaga(cfg.MeterProvider, cfg.TracerProvider),
	}
	r.group = r.newWriteGroup()
	return r
}

// LastLoop is when Run last went round its claim loop (real time), or zero
// when Run is not running. Run goes round at least every PollInterval, and
// every ClaimBackoff while its claims fail, so a much older time means the
// runner is stuck. It costs an atomic load.
func (r *Runner) LastLoop() time.Time { return r.pulse.Last() }

// Register adds definitions. A name can be registered once.
func (r *Runner) Register(defs ...*Definition) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range defs {
		if err := d.validate(); err != nil {
			return err
		}
		if prev, ok := r.defs[d.Name]; ok && prev != d {
			return fmt.Errorf("%w: definition %q registered twice", ErrInvalid, d.Name)
		} else if ok {
			continue
		}
		r.defs[d.Name] = d
		r.names = append(r.names, d.Name)
	}
	return nil
}

func (r *Runner) definition(name string) (*Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	return d, ok
}

func (r *Runner) definitions() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.names...)
}

func (r *Runner) now() time.Time { return r.cfg.Now() }

// notify wakes Run and keeps it polling fast for a moment, since the work
// that caused the wake-up may not have committed yet.
func (r *Runner) notify() { r.wake.Notify() }

// Instance is a snapshot of a saga instance and its step records.
type Instance struct {
	InstanceRecord
	Steps []StepRecord

	// held is set on the value Start returns with Inline: it carries the
	// lease RunInline needs.
	held bool
}

// Step returns the record of one half of a step, if it was ever dispatched.
func (in *Instance) Step(name string, op Op) (StepRecord, bool) {
	for _, s := range in.Steps {
		if s.Step == name && s.Op == op {
			return s, true
		}
	}
	return StepRecord{}, false
}

// StartOption changes how Start creates an instance.
type StartOption func(*startOptions)

type startOptions struct {
	inline bool
}

// Inline makes Start lease the new instance to the caller and record its
// first step as dispatched, in the caller's transaction, so that after the
// commit the caller runs it with RunInline. If the caller never does (it
// crashed), the lease expires and a runner resolves the first step.
func Inline() StartOption { return func(o *startOptions) { o.inline = true } }

// maxBusinessKey is the longest business key the schema stores.
const maxBusinessKey = 255

// Start creates an instance of def for businessKey in the caller's
// transaction: the instance exists if and only if tx commits. The business
// key is unique per definition: when an instance already exists for it,
// Start returns that instance and an error wrapping ErrDuplicate, and
// writes nothing. The instance is due at once; runners pick it up after the
// commit (a runner in this process is woken).
//
// When the caller's transaction is retried after a deadlock, Start simply
// runs again: the rolled-back attempt left nothing behind.
func (r *Runner) Start(ctx context.Context, tx *sql.Tx, def *Definition, businessKey string, payload []byte, opts ...StartOption) (*Instance, error) {
	if tx == nil {
		return nil, fmt.Errorf("%w: Start needs the caller's transaction", ErrInvalid)
	}
	if def == nil {
		return nil, fmt.Errorf("%w: nil definition", ErrInvalid)
	}
	if d, ok := r.definition(def.Name); !ok || d != def {
		return nil, fmt.Errorf("saga: start %q: %w", def.Name, ErrUnknownDefinition)
	}
	if businessKey == "" || len(businessKey) > maxBusinessKey {
		return nil, fmt.Errorf("%w: business key must be 1 to %d bytes", ErrInvalid, maxBusinessKey)
	}
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	now := r.now()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("saga: start %q: new id: %w", def.Name, err)
	}
	traceParent := telemetry.TraceParent(ctx)
	if len(traceParent) > telemetry.MaxTraceParent {
		traceParent = ""
	}
	rec := InstanceRecord{
		TraceParent: traceParent,
		ID:          id.String(),
		Definition:  def.Name,
		BusinessKey: businessKey,
		State:       Running,
		Payload:     payload,
		RunAt:       now,
		Version:     1,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	var steps []StepRecord
	if o.inline {
		rec.LeaseOwner = r.cfg.Owner
		rec.LeaseToken = uuid.NewString()
		rec.RunAt = now.Add(r.cfg.Lease)
		steps = []StepRecord{{
			SagaID: rec.ID, Step: def.Steps[0].Name, Op: OpAction,
			Status: StepDispatched, Attempts: 1, UpdatedAt: now,
		}}
	}
	if err := r.store.InsertInstance(ctx, tx, rec, steps); err != nil {
		if errors.Is(err, ErrDuplicate) {
			existing, gerr := r.store.InstanceByKey(ctx, tx, def.Name, businessKey)
			if gerr != nil {
				return nil, fmt.Errorf("saga: start %q %q: %w (reading it: %w)", def.Name, businessKey, err, gerr)
			}
			return &Instance{InstanceRecord: existing}, fmt.Errorf("saga: start %q %q: %w", def.Name, businessKey, err)
		}
		return nil, fmt.Errorf("saga: start %q %q: %w", def.Name, businessKey, err)
	}
	if len(steps) == 0 {
		r.notify()
	}
	return &Instance{InstanceRecord: rec, Steps: steps, held: o.inline}, nil
}

// RunInline runs up to maxSteps (at least one) step functions of an instance that Start
// created with Inline, after the caller's transaction committed, while the
// caller holds the lease. It then hands the instance on and returns its
// snapshot: when this runner's Run is running with a worker slot free, the
// next step is recorded as dispatched in the write that records the last
// inline one, the lease is kept, and the step runs at once in that slot,
// with no claim and no read of the instance; otherwise the instance is
// released due at once, for a runner to claim (in this process they are
// woken). A step that fails transiently is scheduled for retry and ends
// the inline run; its record in the snapshot carries the error.
//
// The step functions get ctx as given; the outcome is recorded on a context
// ctx's cancellation cannot interrupt. The returned error is not the step's
// error: it reports that the runner could not do its part (ErrLeaseLost if
// the transaction that called Start rolled back or the lease expired and
// another runner took over; a database error).
func (r *Runner) RunInline(ctx context.Context, in *Instance, maxSteps int) (*Instance, error) {
	if in == nil || !in.held {
		return nil, fmt.Errorf("%w: RunInline needs the instance Start returned with Inline", ErrInvalid)
	}
	def, ok := r.definition(in.Definition)
	if !ok {
		return nil, fmt.Errorf("saga: run %q: %w", in.Definition, ErrUnknownDefinition)
	}
	in.held = false
	maxSteps = max(maxSteps, 1)
	j := newJob(def, in.InstanceRecord, in.Steps)
	j.dispatched = len(in.Steps) > 0
	var out *Instance
	err := r.drive(ctx, j, maxSteps, nil, func(j *job) {
		// The last inline call is recorded, the next one dispatched in
		// the same write: take the snapshot before the handed-off run
		// moves j on.
		out = &Instance{InstanceRecord: j.inst, Steps: j.stepList()}
	})
	if out == nil {
		r.notify()
		out = &Instance{InstanceRecord: j.inst, Steps: j.stepList()}
	}
	if err != nil {
		return out, fmt.Errorf("saga: run %s inline: %w", in.ID, err)
	}
	return out, nil
}

// Run claims due instances and works on them until ctx is canceled. On
// cancellation it stops claiming, lets every step function in flight
// finish and record its outcome, hands the instances it holds back (due at
// once, for another runner), and returns nil. Run may be called once at a
// time per Runner.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("saga: Run is already running")
	}
	defer r.running.Store(false)
	if len(r.definitions()) == 0 {
		return fmt.Errorf("%w: no definitions registered", ErrInvalid)
	}
	return claimloop.Loop[*job]{
		Name: "saga: claim instances", Log: r.log, Config: r.cfg.Loop, Signal: r.wake,
		// Claim when a good share of the slots is free, so claims stay
		// batched under load instead of leasing one instance per freed
		// slot.
		ClaimAt: func(free int) bool {
			return free >= min(r.cfg.ClaimBatch, r.cfg.Concurrency)/2 || free == r.cfg.Concurrency
		},
		Claim: func(ctx context.Context, free int) ([]*job, bool, error) {
			limit := min(free, r.cfg.ClaimBatch)
			jobs, err := r.claim(ctx, limit)
			return jobs, len(jobs) == limit, err
		},
		Work:  r.work,
		Pulse: &r.pulse,
		Pool:  r.pool,
	}.Run(ctx)
}

func (r *Runner) work(ctx context.Context, j *job, stop <-chan struct{}) {
	if err := r.drive(ctx, j, -1, stop, nil); err != nil {
		level := slog.LevelError
		if errors.Is(err, ErrLeaseLost) {
			level = slog.LevelWarn
		}
		r.log.Log(ctx, level, "saga: instance left for another runner", j.logAttrs("err", err)...)
	}
}

func (r *Runner) claim(ctx context.Context, limit int) ([]*job, error) {
	now := r.now()
	c := Claim{
		Definitions: r.definitions(),
		Owner:       r.cfg.Owner,
		Token:       uuid.NewString(),
		Now:         now,
		LeaseUntil:  now.Add(r.cfg.Lease),
		Limit:       limit,
	}
	var jobs []*job
	err := r.store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		jobs = nil
		recs, err := r.store.ClaimInstances(ctx, tx, c)
		if err != nil || len(recs) == 0 {
			return err
		}
		ids := make([]string, len(recs))
		for i, rec := range recs {
			ids[i] = rec.ID
		}
		steps, err := r.store.Steps(ctx, tx, ids...)
		if err != nil {
			return err
		}
		bySaga := map[string][]StepRecord{}
		for _, s := range steps {
			bySaga[s.SagaID] = append(bySaga[s.SagaID], s)
		}
		// Record the dispatch of each instance's next call in the claim's
		// own transaction, instead of one more transaction per instance.
		var dispatch []StepSet
		for _, rec := range recs {
			def, ok := r.definition(rec.Definition)
			if !ok {
				continue // not ours; the lease expires for a runner that knows it
			}
			j := newJob(def, rec, bySaga[rec.ID])
			if u, ok := nextUnit(def, rec, j.steps); ok {
				row := j.predispatch(j.steps, u, now)
				j.steps[stepKey{row.Step, row.Op}] = row
				dispatch = append(dispatch, StepSet{SagaID: rec.ID, Steps: j.stepList()})
			}
			jobs = append(jobs, j)
		}
		return r.store.SetSteps(ctx, tx, dispatch...)
	})
	if err != nil {
		return nil, fmt.Errorf("saga: claim: %w", err)
	}
	return jobs, nil
}
