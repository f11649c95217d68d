// Package saga runs sagas — multi-step business processes whose steps call
// other systems — to a consistent end, whatever crashes, times out or runs
// twice.
//
// A Definition is an ordered list of Steps. Each step has an Action, an
// optional Compensate that undoes it, an optional Resolve that looks its
// effect up when an earlier attempt's outcome is unknown, and a retry
// Policy. Start creates an instance in the caller's transaction, so the
// saga exists if and only if the business change commits; a Runner then
// executes the steps, in any number of processes against one database:
//
//	def := &saga.Definition{Name: "payment", Steps: []saga.Step{
//		{Name: "approve", Action: approve, Resolve: lookUp, Compensate: refund},
//		{Name: "create_order", Action: createOrder, Retry: saga.Policy{MaxAttempts: 5}},
//	}}
//	runner := saga.NewRunner(sagastore.New(db), saga.RunnerConfig{})
//	_ = runner.Register(def)
//	go runner.Run(ctx)
//
//	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
//		// ... the business change ...
//		in, err = runner.Start(ctx, tx, def, orderID, payload, saga.Inline())
//		return err
//	})
//	in, err = runner.RunInline(ctx, in, 1) // approve now, the rest in the background
//
// How it stays consistent:
//
//   - Leases. A runner claims due instances in batches (SELECT … FOR UPDATE
//     SKIP LOCKED on MySQL/MariaDB, the single writer on SQLite) and leases
//     them; it extends the lease while a step runs. Every write is a
//     compare-and-set on the instance's version, so a runner that stalled
//     past its lease and lost the instance to another has its late write
//     refused (ErrLeaseLost) and its step's Commit never runs.
//   - Dispatch before call. A step's dispatch is recorded (its step record,
//     one per (step, op), kept in the instance's row and written by the
//     instance's compare-and-set) before its function is called. A runner that
//     finds a dispatched step whose outcome was never recorded calls the
//     step's Resolve first, and the action only if Resolve says ErrNotDone.
//   - Commit with the step. A step returns a Result whose Commit runs in the
//     transaction that records the step as done, so the step's own database
//     writes and its completion land together. Attempt.IdempotencyKey is
//     stable across attempts, for external systems that deduplicate.
//   - Compensation. When an action fails with a Permanent error, the steps
//     before it that completed are compensated in reverse order; when an
//     action exhausts its Policy, it is compensated too (its outcome is
//     unknown). Compensations run on a context the caller cannot cancel and
//     retry until they succeed, raising Hooks.OnAlert every AlertAfter
//     attempts; a Permanent error from a compensation moves the saga to
//     NEEDS_ATTENTION with the reason, where Runner.Stuck lists it and
//     Runner.Retry resumes it. After a Pivot step completed, a failure needs
//     attention instead of compensating.
//   - No silent give-up. A MustComplete step (one that follows a money
//     movement and has no way back) never exhausts its policy: it retries
//     without end, alerting every AlertAfter attempts, and a Permanent
//     error sends the saga to NEEDS_ATTENTION instead of compensating.
//     While it retries, the instance's Reason carries the last failure and
//     Runner.Stuck lists it; Runner.Resolve ends a saga whose remaining
//     work an operator did by hand.
//
// States: RUNNING → COMPLETED | COMPENSATING → COMPENSATED; any non-terminal
// state → NEEDS_ATTENTION → (Retry) RUNNING | COMPENSATING or (Resolve)
// COMPLETED | COMPENSATED (see State and CanTransition).
//
// Wake brings a waiting instance forward when the news its step is waiting
// for arrives (a webhook settled an unknown outcome), also while a runner
// holds it: the attempt in flight is then retried at once if it fails.
// Runners in the process that starts sagas are woken at once; others poll
// (Loop.PollInterval).
//
// A step that reports what it did emits events through the transactional
// outbox (package outbox) in its Result.Commit. The Runner and the outbox
// share their claim loop and its configuration (Loop), their backoff and
// the Permanent mark, but neither package depends on the other.
//
// The package imports nothing else of paygate but what it shares with the
// outbox (internal/claimloop, internal/retry): it defines the Store it
// needs, which store/sagastore implements on MySQL/MariaDB and SQLite.
package saga
