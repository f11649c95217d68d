package txgroup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

type item struct {
	key   string
	fail  bool
	panic bool
}

var errRefused = errors.New("refused")

// insert is an item's work: its row, then its refusal if it is one, so a
// refused item has written something the rollback must take back.
func insert(ctx context.Context, tx *sql.Tx, it item) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO tg_items (k) VALUES (?)`, it.key); err != nil {
		return err
	}
	if it.fail {
		return fmt.Errorf("%s: %w", it.key, errRefused)
	}
	if it.panic {
		panic("bug in " + it.key)
	}
	return nil
}

// fixture is a group over db with one worker whose first transaction waits
// at gate, so the items submitted meanwhile queue behind it.
type fixture struct {
	g        *Group[item]
	gate     chan struct{}
	entered  chan struct{} // closed when the first transaction waits at gate
	together atomic.Int64  // items done in groups that committed
	groups   atomic.Int64  // group transactions tried
}

func newFixture(t *testing.T, db *store.DB, max int) *fixture {
	_, err := db.SQL().ExecContext(context.Background(), `CREATE TABLE tg_items (k VARCHAR(64) NOT NULL PRIMARY KEY)`)
	require.NoError(t, err)
	f := &fixture{gate: make(chan struct{}), entered: make(chan struct{})}
	var first sync.Once
	wait := func() { first.Do(func() { close(f.entered); <-f.gate }) }
	f.g = &Group[item]{
		InTx: db.InTx,
		Together: func(ctx context.Context, tx *sql.Tx, items []item) error {
			f.groups.Add(1)
			assert.True(t, store.InTransaction(Context(context.Background(), ctx)), "an item's context inside the group says a transaction is open")
			for _, it := range items {
				if err := insert(ctx, tx, it); err != nil {
					return err
				}
			}
			f.together.Add(int64(len(items)))
			return nil
		},
		Alone: func(it item) error {
			wait()
			return db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, it) })
		},
		Max:     max,
		Workers: 1,
	}
	return f
}

// submitQueued submits items while the worker waits at the gate, waits
// until they are all queued, opens the gate and returns their outcomes.
func (f *fixture) submitQueued(t *testing.T, first item, items []item) (error, []error) {
	var firstErr error
	firstDone := make(chan struct{})
	go func() { firstErr = f.g.Submit(first); close(firstDone) }()
	<-f.entered
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					errs[i] = fmt.Errorf("panicked: %v", v)
				}
			}()
			errs[i] = f.g.Submit(it)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.g.mu.Lock()
		queued := len(f.g.queue)
		f.g.mu.Unlock()
		if queued == len(items) {
			break
		}
		require.True(t, time.Now().Before(deadline), "items not queued: %d of %d", queued, len(items))
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	wg.Wait()
	<-firstDone
	return firstErr, errs
}

func keys(t *testing.T, db *store.DB) []string {
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT k FROM tg_items ORDER BY k`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	require.NoError(t, rows.Err())
	return out
}

// Items submitted while the worker is busy commit together, at most Max a
// group; an item submitted to an idle group runs at once, alone.
func TestGroup_QueuedItemsCommitTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 4)
		items := make([]item, 10)
		want := []string{"a"}
		for i := range items {
			items[i] = item{key: fmt.Sprintf("b%02d", i)}
			want = append(want, items[i].key)
		}
		firstErr, errs := f.submitQueued(t, item{key: "a"}, items)
		require.NoError(t, firstErr)
		for _, err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, want, keys(t, db))
		assert.Equal(t, int64(10), f.together.Load(), "the queued items committed in groups")
		assert.Equal(t, int64(3), f.groups.Load(), "10 items, 4 a group: 3 groups")
	})
}

// A refused item rolls its group back; every other item of the group then
// lands alone, and the refused one answers its own error with nothing of
// it written.
func TestGroup_AFailingItemFailsAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 8)
		items := []item{{key: "b1"}, {key: "b2", fail: true}, {key: "b3"}, {key: "b4"}}
		firstErr, errs := f.submitQueued(t, item{key: "a"}, items)
		require.NoError(t, firstErr)
		for i, err := range errs {
			if items[i].fail {
				require.ErrorIs(t, err, errRefused)
				continue
			}
			require.NoError(t, err, items[i].key)
		}
		assert.Equal(t, []string{"a", "b1", "b3", "b4"}, keys(t, db))
		assert.Equal(t, int64(1), f.groups.Load())
		assert.Zero(t, f.together.Load(), "the group did not commit")
	})
}

// Max 1 runs every item alone.
func TestGroup_MaxOneRunsAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 1)
		close(f.gate)
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() { defer wg.Done(); assert.NoError(t, f.g.Submit(item{key: fmt.Sprint(i)})) }()
		}
		wg.Wait()
		assert.Len(t, keys(t, db), 6)
		assert.Zero(t, f.groups.Load())
	})
}

// A panic in a group sends its items to run alone; the item whose work
// panics alone has its panic raised again in its caller's goroutine, with
// nothing of it written, and the others land.
func TestGroup_APanicIsItsCallersAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 8)
		items := []item{{key: "b1"}, {key: "b2", panic: true}, {key: "b3"}}
		firstErr, errs := f.submitQueued(t, item{key: "a"}, items)
		require.NoError(t, firstErr)
		require.NoError(t, errs[0])
		require.EqualError(t, errs[1], "panicked: bug in b2")
		require.NoError(t, errs[2])
		assert.Equal(t, []string{"a", "b1", "b3"}, keys(t, db))
		assert.Equal(t, int64(1), f.groups.Load())
		assert.Zero(t, f.together.Load())
	})
}

// With Lone, an item alone in its group runs Together too; when that fails,
// it runs Alone and answers its own outcome.
func TestGroup_LoneItemRunsTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 8)
		f.g.Lone = true
		close(f.gate)
		require.NoError(t, f.g.Submit(item{key: "a"}))
		assert.Equal(t, int64(1), f.groups.Load())
		assert.Equal(t, int64(1), f.together.Load(), "the lone item committed in a group of one")

		require.ErrorIs(t, f.g.Submit(item{key: "b", fail: true}), errRefused)
		assert.Equal(t, int64(2), f.groups.Load(), "tried together first")
		assert.Equal(t, int64(1), f.together.Load())
		assert.Equal(t, []string{"a"}, keys(t, db), "nothing of the refused item, together or alone")
	})
}

// By default an item alone in its group runs Alone.
func TestGroup_LoneItemRunsAloneByDefault(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 8)
		close(f.gate)
		require.NoError(t, f.g.Submit(item{key: "a"}))
		assert.Zero(t, f.groups.Load())
		assert.Equal(t, []string{"a"}, keys(t, db))
	})
}

// onSubmitStack reports whether the caller's stack goes through Submit: the
// work runs on the goroutine of the caller that submitted, not on a worker
// goroutine of the group.
func onSubmitStack() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "txgroup.(*Group[...]).Submit") {
			return true
		}
		if !more {
			return false
		}
	}
}

func TestSubmit_IdleGroup_TheCallerRunsItsOwnItem(t *testing.T) {
	t.Parallel()
	var onCaller atomic.Bool
	g := &Group[int]{
		InTx: func(ctx context.Context, fn func(context.Context, *sql.Tx) error) error { return fn(ctx, nil) },
		Together: func(_ context.Context, _ *sql.Tx, items []int) error {
			onCaller.Store(onSubmitStack())
			return nil
		},
		Alone: func(int) error { return errors.New("not expected alone") },
		Max:   4,
		Lone:  true,
	}
	require.NoError(t, g.Submit(1))
	assert.True(t, onCaller.Load(), "an idle group hands the caller's item to no other goroutine")
}

// heldGroup is a Group of ints whose first group — the one holding item 0,
// submitted by start — stays in its transaction until release, and which
// records every group it commits and whether it ran on a caller's stack.
type heldGroup struct {
	g        *Group[int]
	entered  chan struct{}
	gate     chan struct{}
	first    chan error
	mu       sync.Mutex
	groups   [][]int
	onCaller []bool
}

func newHeldGroup(max, workers int, stall time.Duration) *heldGroup {
	h := &heldGroup{entered: make(chan struct{}), gate: make(chan struct{}), first: make(chan error, 1)}
	h.g = &Group[int]{
		InTx: func(ctx context.Context, fn func(context.Context, *sql.Tx) error) error { return fn(ctx, nil) },
		Together: func(_ context.Context, _ *sql.Tx, items []int) error {
			if items[0] == 0 {
				close(h.entered)
				<-h.gate
			}
			h.mu.Lock()
			h.groups = append(h.groups, append([]int(nil), items...))
			h.onCaller = append(h.onCaller, onSubmitStack())
			h.mu.Unlock()
			return nil
		},
		Alone:   func(int) error { return errors.New("not expected alone") },
		Max:     max,
		Workers: workers,
		Lone:    true,
		stall:   stall,
	}
	return h
}

// start submits item 0 and returns once its group is in its transaction.
func (h *heldGroup) start() {
	go func() { h.first <- h.g.Submit(0) }()
	<-h.entered
}

// release lets the first group commit and checks its caller's answer.
func (h *heldGroup) release(t *testing.T) {
	close(h.gate)
	require.NoError(t, <-h.first)
}

// queued reports whether n items wait for a worker.
func (h *heldGroup) queued(n int) func() bool {
	return func() bool {
		h.g.mu.Lock()
		defer h.g.mu.Unlock()
		return len(h.g.queue) == n
	}
}

func (h *heldGroup) committed() ([][]int, []bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]int(nil), h.groups...), append([]bool(nil), h.onCaller...)
}

func (h *heldGroup) running() int {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	return h.g.running
}

func TestSubmit_TheCallerReturnsWhenItsItemIsDone_TheRestGoesToAWorker(t *testing.T) {
	t.Parallel()
	h := newHeldGroup(8, 1, 0)
	h.start()
	// The only worker (the first caller) is busy: these queue.
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		wg.Go(func() { assert.NoError(t, h.g.Submit(i)) })
	}
	require.Eventually(t, h.queued(3), 5*time.Second, time.Millisecond)
	h.release(t)
	wg.Wait()
	groups, onCaller := h.committed()
	require.Len(t, groups, 2)
	assert.Equal(t, []int{0}, groups[0])
	assert.ElementsMatch(t, []int{1, 2, 3}, groups[1], "the queued items go together")
	assert.True(t, onCaller[0], "the first caller ran its own item")
	assert.Zero(t, h.running(), "no worker left running")
}

// While a group runs, items queue for it instead of opening transactions
// of their own beside it; a second worker starts only when a full group
// waits, and takes that group while the first is still busy.
func TestSubmit_ASecondWorkerOnlyForAFullGroup(t *testing.T) {
	t.Parallel()
	h := newHeldGroup(3, 4, time.Hour) // no lane for a long-running group here
	h.start()
	var wg sync.WaitGroup
	for i := 1; i <= 2; i++ {
		wg.Go(func() { assert.NoError(t, h.g.Submit(i)) })
	}
	require.Eventually(t, h.queued(2), 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, h.running(), "two waiting items (less than a group) open no second worker")
	// The third makes a full group: a second worker takes it although
	// the first group is still stalled.
	wg.Go(func() { assert.NoError(t, h.g.Submit(3)) })
	assert.Eventually(t, func() bool {
		groups, _ := h.committed()
		return len(groups) == 1
	}, 5*time.Second, time.Millisecond, "the full group committed while the first was stalled")
	h.release(t)
	wg.Wait()
	groups, _ := h.committed()
	require.Len(t, groups, 2)
	assert.ElementsMatch(t, []int{1, 2, 3}, groups[0])
	assert.Equal(t, []int{0}, groups[1])
	assert.Zero(t, h.running())
}

// An item that arrives after the last group has run for long opens another
// lane, full group or not: a group stalled on a lock does not hold it back.
func TestSubmit_AGroupRunningLongOpensALaneForTheNextArrival(t *testing.T) {
	t.Parallel()
	h := newHeldGroup(32, 4, 10*time.Millisecond)
	h.start()
	defer h.release(t)
	time.Sleep(20 * time.Millisecond)
	late := make(chan error, 1)
	go func() { late <- h.g.Submit(1) }()
	select {
	case err := <-late:
		require.NoError(t, err, "committed beside the stalled group")
	case <-time.After(5 * time.Second):
		t.Fatal("the item waited behind the stalled group")
	}
}
