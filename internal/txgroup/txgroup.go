// Package txgroup commits the transactions of concurrent callers together:
// what callers submit at the same moment runs in one transaction, with one
// commit, instead of one transaction each.
//
// A caller never waits for others to join. When no group transaction
// runs, the caller becomes the group's worker and runs its item at once,
// on its own goroutine; while one runs, the items that arrive meanwhile
// queue and the worker takes them together when its group ends (another
// worker starts only when a full group waits, see Workers). A caller
// working for the group returns as soon as its own item is done and leaves
// what still queues to a worker goroutine. An idle group adds no latency
// and no hand-off between goroutines; a busy one turns many commits into
// few.
//
// When a group fails in any way — an item's work errs, the database refuses
// a statement, the commit fails — the group's transaction is rolled back
// and each of its items runs again alone, in a transaction of its own,
// where it lands or fails exactly as it would have without the group. The
// work of an item must therefore be re-runnable, as the work of a
// transaction that store.DB.InTx retries already must be.
package txgroup

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// InTx runs fn in a transaction (store.DB.InTx and the repositories built
// on it).
type InTx func(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error

// Group commits items of type T together. Its zero value is not usable;
// fill every function field.
type Group[T any] struct {
	// InTx opens the group's transactions. For work that is one statement,
	// atomic on its own, it may run fn with a nil tx instead.
	InTx InTx
	// Together does the work of several items in tx. Any error rolls the
	// group back and runs each item Alone.
	Together func(ctx context.Context, tx *sql.Tx, items []T) error
	// Alone does the work of one item in a transaction of its own and
	// returns its outcome.
	Alone func(item T) error
	// Max is how many items a group holds at most; 1 or less runs every
	// item alone.
	Max int
	// Workers is how many group transactions run at once at most;
	// default 4. One runs whenever items wait; another opens only when a
	// full group (Max items) waits behind the running ones — a burst the
	// running group cannot keep up with — or when an item arrives after
	// the last group has run for 50 ms (stalled on a lock, say), so that
	// under steady load the items that arrive while a group runs go
	// together in the next one instead of each in a transaction of its
	// own.
	Workers int
	// Lone makes an item that is alone in its group run Together too
	// (and Alone only if that fails), for work that Together does in
	// fewer round trips than Alone. By default a lone item runs Alone.
	Lone bool

	mu      sync.Mutex
	queue   []pending[T]
	running int
	started time.Time     // when the last group began
	stall   time.Duration // how long a group runs before an arrival opens another lane; 0: stallAfter
}

// stallAfter is how long the last group may run before an item that
// arrives starts another worker beside it, full group or not: a group
// stalled on a lock holds the items that arrive after this long back no
// longer.
const stallAfter = 50 * time.Millisecond

type pending[T any] struct {
	item T
	done chan outcome
}

// outcome is an item's: its error, or the panic its work raised alone.
type outcome struct {
	err      error
	panicked bool
	value    any
}

// Submit queues item and returns its outcome once its transaction ended:
// nil when it committed, its own error otherwise. A panic of the item's
// work run alone is raised again here, in the caller's goroutine, as if it
// had run there; a panic in a group only sends its items to run alone.
func (g *Group[T]) Submit(item T) error {
	if g.Max <= 1 {
		return g.Alone(item)
	}
	p := pending[T]{item: item, done: make(chan outcome, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	switch {
	case g.running == 0:
		// No group runs: the caller is the worker until its own item
		// is done, so an idle group hands nothing to another goroutine.
		// Its group starts now: an item arriving before workUntil takes
		// it must not read the start of a group long past as a stall.
		g.running++
		g.started = time.Now()
		g.mu.Unlock()
		g.workUntil(p.done)
	case g.running < g.workers() && (len(g.queue) >= g.Max || time.Since(g.started) >= g.stallAfter()):
		// A full group waits behind the running ones (a busy burst),
		// or the last group has run for long (stalled on a lock):
		// open another lane.
		g.running++
		g.mu.Unlock()
		go g.work()
	default:
		// A running worker takes it with what else arrives meanwhile
		// when its group ends.
		g.mu.Unlock()
	}
	o := <-p.done
	if o.panicked {
		panic(o.value)
	}
	return o.err
}

func (g *Group[T]) stallAfter() time.Duration {
	if g.stall <= 0 {
		return stallAfter
	}
	return g.stall
}

func (g *Group[T]) workers() int {
	if g.Workers <= 0 {
		return 4
	}
	return g.Workers
}

// work runs groups from the queue until it is empty.
func (g *Group[T]) work() { g.workUntil(nil) }

// workUntil runs groups from the queue until it is empty or, for a caller
// working for the group, until done has the caller's outcome; the items
// still queued then go to a worker goroutine, which takes over the
// caller's worker slot.
func (g *Group[T]) workUntil(done chan outcome) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.Max)
		switch {
		case n == 0:
			g.running--
			g.mu.Unlock()
			return
		case done != nil && len(done) > 0:
			go g.work()
			g.mu.Unlock()
			return
		}
		group := make([]pending[T], n)
		copy(group, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.started = time.Now()
		g.mu.Unlock()
		g.run(group)
	}
}

func (g *Group[T]) run(group []pending[T]) {
	if len(group) > 1 || g.Lone {
		items := make([]T, len(group))
		for i, p := range group {
			items[i] = p.item
		}
		if g.together(items) == nil {
			for _, p := range group {
				p.done <- outcome{}
			}
			return
		}
	}
	for _, p := range group {
		p.done <- g.alone(p.item)
	}
}

// together runs items in one transaction; a panic is a failure like any.
func (g *Group[T]) together(items []T) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("txgroup: group panicked: %v", v)
		}
	}()
	return g.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		return g.Together(ctx, tx, items)
	})
}

// alone runs item alone, catching its panic for its caller.
func (g *Group[T]) alone(item T) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = outcome{panicked: true, value: v}
		}
	}()
	return outcome{err: g.Alone(item)}
}

// Context is an item's own context (its deadline, its span, its values)
// inside a group's transaction, whose context is tx: a value the item's
// context lacks comes from tx's, which marks the transaction as open (so
// code that must not open another one inside it can tell).
func Context(item, tx context.Context) context.Context {
	return txContext{Context: item, tx: tx}
}

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
