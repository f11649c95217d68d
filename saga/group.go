package saga

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// DefaultWriteGroup is how many step outcomes a Runner commits in one
// transaction at most when RunnerConfig.WriteGroup is zero.
const DefaultWriteGroup = 32

// writeGroupWorkers is how many group transactions run at once.
const writeGroupWorkers = 4

// pendingWrite is one instance's write waiting for a group: the
// compare-and-set of its record, its step rows and its step's commit.
type pendingWrite struct {
	ctx    context.Context
	j      *job
	next   InstanceRecord // Version and UpdatedAt set
	rows   []StepRecord
	commit func(context.Context, *sql.Tx) error
	done   chan error
}

// groupWriter commits the writes of instances that become due at the same
// moment together: one transaction, one statement for all their step rows
// and one commit instead of one each. A write waits only while the group
// transactions already running finish, so an idle runner writes at once.
// When anything in a group fails — a compare-and-set that finds another
// version, a step's commit that errs, a database error — the group is
// rolled back and each of its writes runs again alone, where it fails or
// lands exactly as it would have without the group.
type groupWriter struct {
	r   *Runner
	max int

	mu      sync.Mutex
	queue   []*pendingWrite
	workers int
}

// submit queues w and returns its outcome: nil when it committed, the error
// of its own transaction otherwise.
func (g *groupWriter) submit(w *pendingWrite) error {
	if g.max <= 1 || g.inTx(w.ctx) {
		// A write from inside a transaction runs alone, in its context,
		// so the store refuses the nested transaction as it always has.
		return g.r.writeAlone(w)
	}
	w.done = make(chan error, 1)
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.workers < writeGroupWorkers {
		g.workers++
		go g.work()
	}
	g.mu.Unlock()
	return <-w.done
}

// work commits groups from the queue until it is empty.
func (g *groupWriter) work() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		if n == 0 {
			g.workers--
			g.mu.Unlock()
			return
		}
		group := make([]*pendingWrite, n)
		copy(group, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		g.commit(group)
	}
}

// inTx reports whether ctx is inside a transaction of the store, when the
// store can tell.
func (g *groupWriter) inTx(ctx context.Context) bool {
	t, ok := g.r.store.(interface{ InTransaction(context.Context) bool })
	return ok && t.InTransaction(ctx)
}

// errGroupFallback rolls a group back so its writes run alone.
var errGroupFallback = errors.New("saga: a write of the group did not land; each runs alone")

func (g *groupWriter) commit(group []*pendingWrite) {
	if len(group) > 1 {
		err := g.r.store.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			for _, w := range group {
				ok, err := g.r.store.UpdateInstance(ctx, tx, w.next, w.j.inst.Version)
				if err != nil {
					return err
				}
				if !ok {
					return errGroupFallback
				}
			}
			var rows []StepRecord
			for _, w := range group {
				rows = append(rows, w.rows...)
			}
			if err := g.r.store.PutSteps(ctx, tx, rows...); err != nil {
				return err
			}
			for _, w := range group {
				if w.commit == nil {
					continue
				}
				if err := runCommit(txContext{Context: w.ctx, tx: ctx}, tx, w.commit); err != nil {
					return errGroupFallback
				}
			}
			return nil
		})
		if err == nil {
			for _, w := range group {
				w.done <- nil
			}
			return
		}
		if !errors.Is(err, errGroupFallback) {
			g.r.log.Debug("saga: group write failed; each runs alone", "writes", len(group), "err", err)
		}
	}
	for _, w := range group {
		w.done <- g.r.writeAlone(w)
	}
}

// txContext is a write's own context (its span, its values) inside the
// group's transaction: a value the write's context lacks comes from the
// transaction's, which says a transaction is open.
type txContext struct {
	context.Context
	tx context.Context
}

func (c txContext) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.tx.Value(key)
}
