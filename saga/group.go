package saga

import (
	"context"
	"database/sql"
	"errors"

	"github.com/paygate/paygate/internal/txgroup"
)

// DefaultWriteGroup is how many instances' writes a Runner commits in one
// transaction at most when RunnerConfig.WriteGroup is zero.
const DefaultWriteGroup = 32

// writeGroupWorkers is how many group transactions run at once at most:
// one while the writes keep up, more when a full group waits or the
// running one has taken 50 ms (see txgroup.Group.Workers).
const writeGroupWorkers = 4

// pendingWrite is one instance's write: the compare-and-set of its record
// with its step records, and its step's commit.
type pendingWrite struct {
	ctx  context.Context
	j    *job
	next InstanceRecord // Version and UpdatedAt set
	// rows are the step records the write changes; steps all of the
	// instance's with rows written over them (nil: unchanged).
	rows   []StepRecord
	steps  []StepRecord
	commit func(context.Context, *sql.Tx) error
}

// newWriteGroup commits the writes of instances that are ready at the same
// moment together (see txgroup): one transaction, one statement for all
// their instance records with their step records (each still a
// compare-and-set on its version), and one commit. When anything in a group fails — a
// compare-and-set that finds another version, a step's commit that errs, a
// database error — each of its writes runs alone, where it lands or fails
// exactly as it would have without the group.
func (r *Runner) newWriteGroup() *txgroup.Group[*pendingWrite] {
	return &txgroup.Group[*pendingWrite]{
		InTx: func(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
			return r.store.InTx(ctx, fn)
		},
		Together: r.writeTogether,
		Alone:    r.writeAlone,
		Max:      r.cfg.WriteGroup,
		Workers:  writeGroupWorkers,
		// Together sends a commit's rows in one request (see
		// deferring): fewer round trips than Alone even for one write.
		Lone: true,
	}
}

// submit commits w, in a group when one forms.
func (r *Runner) submit(w *pendingWrite) error {
	if t, ok := r.store.(interface{ InTransaction(context.Context) bool }); ok && t.InTransaction(w.ctx) {
		// A write from inside a transaction runs alone, in its context,
		// so the store refuses the nested transaction as it always has.
		return r.writeAlone(w)
	}
	return r.group.Submit(w)
}

// errNotLanded rolls a group back when one of its writes would not land.
var errNotLanded = errors.New("saga: a write of the group did not land")

func (r *Runner) writeTogether(ctx context.Context, tx *sql.Tx, ws []*pendingWrite) error {
	ups := make([]InstanceUpdate, len(ws))
	for i, w := range ws {
		ups[i] = InstanceUpdate{Record: w.next, PrevVersion: w.j.inst.Version, Steps: w.steps}
	}
	n, err := r.store.UpdateInstances(ctx, tx, ups)
	if err != nil {
		return err
	}
	if n != len(ws) {
		return errNotLanded
	}
	flush := func(context.Context, *sql.Tx) error { return nil }
	if d, ok := r.store.(deferring); ok {
		ctx, flush = d.Deferring(ctx)
	}
	for _, w := range ws {
		if w.commit == nil {
			continue
		}
		if err := runCommit(txgroup.Context(w.ctx, ctx), tx, w.commit); err != nil {
			return err
		}
	}
	return flush(ctx, tx)
}

// deferring is a Store whose writes in a context it returns wait for its
// flush, so the commits of a group write their new rows
// (events, deliveries) with one statement per table, sent together.
type deferring interface {
	Deferring(ctx context.Context) (context.Context, func(context.Context, *sql.Tx) error)
}
