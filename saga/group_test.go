package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/storetest"
)

// groupSpy is the saga store with every instance update noted by the
// transaction it ran in, and slowed while slow is set, so that writes made
// at the same moment queue behind the first ones and form groups.
//
// With loseCommit, the first group transaction that commits reports an
// error as if its connection died with the commit's answer in flight.
type groupSpy struct {
	*sagastore.Store
	slow       atomic.Bool
	loseCommit bool
	lost       atomic.Bool

	mu   sync.Mutex
	byTx map[*sql.Tx]map[string]bool
}

func (g *groupSpy) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var last *sql.Tx
	err := g.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		last = tx
		return fn(ctx, tx)
	})
	if err != nil || !g.loseCommit {
		return err
	}
	g.mu.Lock()
	grouped := len(g.byTx[last]) > 1
	g.mu.Unlock()
	if grouped && g.lost.CompareAndSwap(false, true) {
		return errors.New("invalid connection: the commit's answer was lost")
	}
	return nil
}

func (g *groupSpy) UpdateInstance(ctx context.Context, tx *sql.Tx, u saga.InstanceUpdate) (bool, error) {
	if g.slow.Load() {
		time.Sleep(30 * time.Millisecond)
	}
	ok, err := g.Store.UpdateInstance(ctx, tx, u)
	g.mu.Lock()
	if g.byTx[tx] == nil {
		g.byTx[tx] = map[string]bool{}
	}
	g.byTx[tx][u.Record.ID] = true
	g.mu.Unlock()
	return ok, err
}

func (g *groupSpy) UpdateInstances(ctx context.Context, tx *sql.Tx, ups []saga.InstanceUpdate) (int, error) {
	if g.slow.Load() {
		time.Sleep(30 * time.Millisecond)
	}
	n, err := g.Store.UpdateInstances(ctx, tx, ups)
	g.mu.Lock()
	if g.byTx[tx] == nil {
		g.byTx[tx] = map[string]bool{}
	}
	for _, u := range ups {
		g.byTx[tx][u.Record.ID] = true
	}
	g.mu.Unlock()
	return n, err
}

// largestGroup is the most instances one transaction updated.
func (g *groupSpy) largestGroup() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, ids := range g.byTx {
		n = max(n, len(ids))
	}
	return n
}

// Writes that are ready at the same moment commit together, and a write
// that fails in a group fails alone: the step whose commit errs once, and
// the instance whose lease another runner took meanwhile, do not keep the
// others of their group from landing, and every step's effect lands
// exactly once. With WriteGroup 1 every write has its own transaction.
func TestWriteGroup_TogetherAndFailingAlone(t *testing.T) {
	for _, group := range []int{0, 1} {
		t.Run(fmt.Sprintf("WriteGroup=%d", group), func(t *testing.T) { testWriteGroup(t, group, false) })
	}
}

// A group whose commit landed but whose answer was lost runs its writes
// alone; each finds its own write landed and is done, with no effect
// written twice.
func TestWriteGroup_CommitAnswerLost(t *testing.T) { testWriteGroup(t, 0, true) }

func testWriteGroup(t *testing.T, group int, loseCommit bool) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		effects(t, db)
		const n = 24
		spy := &groupSpy{Store: newStore(db), byTx: map[*sql.Tx]map[string]bool{}, loseCommit: loseCommit}
		cfg := testConfig()
		cfg.Concurrency = n
		cfg.ClaimBatch = n
		cfg.Lease = 2 * time.Second
		cfg.WriteGroup = group
		r := saga.NewRunner(spy, cfg)

		var arrived sync.WaitGroup
		arrived.Add(n)
		release := make(chan struct{})
		var stolenOnce atomic.Bool
		def := &saga.Definition{Name: "grouped", Steps: []saga.Step{{
			Name: "a",
			Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				if a.Number == 1 {
					arrived.Done()
					<-release
				}
				// Without loseCommit: one instance moved on by another
				// runner, one step whose write fails (with it, every
				// group would hold a failure and none would commit).
				if !loseCommit && a.BusinessKey == key(9) && stolenOnce.CompareAndSwap(false, true) {
					// Another runner moved the instance on meanwhile.
					if _, err := db.SQL().ExecContext(ctx, `UPDATE saga_instances SET version = version + 1 WHERE id = ?`, a.SagaID); err != nil {
						return saga.Result{}, err
					}
				}
				return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
					if !loseCommit && a.BusinessKey == key(5) && a.Number == 1 {
						// However often it runs (in its group, then
						// alone), the first attempt's write fails.
						return errors.New("the step's own write failed")
					}
					return recordEffect(ctx, tx, a)
				}}, nil
			},
			Retry: saga.Policy{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		}}}
		ids := startAtOnce(t, db, r, def, n, &arrived)
		spy.completeSlowly(t, r, release, ids)

		for i, id := range ids {
			assert.Equal(t, 1, effectCount(t, db, `WHERE saga_id = ?`, id), "instance %d: its effect exactly once", i)
		}
		if !loseCommit {
			failed, err := r.Get(context.Background(), ids[5])
			require.NoError(t, err)
			step, ok := failed.Step("a", saga.OpAction)
			require.True(t, ok)
			assert.Equal(t, 2, step.Attempts, "the commit that failed was not recorded; the step ran again")
			assert.True(t, stolenOnce.Load())
		}
		if group == 1 {
			assert.Equal(t, 1, spy.largestGroup(), "WriteGroup 1: a transaction a write")
		} else {
			assert.Greater(t, spy.largestGroup(), 1, "writes ready together share a transaction")
		}
		assert.Equal(t, loseCommit, spy.lost.Load(), "a group commit's answer was lost")
	})
}

// The payments' compare-and-set updates a group's commits defer
// (store.UpdatePaymentDeferred) wait for the group's one statement; when a
// payment was written by someone else meanwhile (a notification that got
// there first), the group's flush fails, nothing of the group lands, and
// each write runs alone: one whose payment moved re-decides on the row as
// it is. Every payment but one is moved, so every group holds a moved one:
// every payment is written exactly once, each moved one is read again
// exactly once, and no effect lands twice.
func TestWriteGroup_DeferredPaymentUpdates_AStaleOneSendsTheGroupAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		effects(t, db)
		const n = 12
		spy := &groupSpy{Store: newStore(db), byTx: map[*sql.Tx]map[string]bool{}}
		cfg := testConfig()
		cfg.Concurrency = n
		cfg.ClaimBatch = n
		cfg.Lease = 5 * time.Second
		r := saga.NewRunner(spy, cfg)

		ctx := context.Background()
		payments := map[string]*store.Payment{}
		for i := range n {
			p := &store.Payment{ID: store.NewPaymentID(), PG: "tosspay", OrderID: key(i), Amount: pg.Won(1000), Status: pg.StatusApproving}
			require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) }))
			payments[key(i)] = p
		}
		const kept = 0 // the one payment nobody else writes
		var arrived sync.WaitGroup
		arrived.Add(n)
		release := make(chan struct{})
		var reread atomic.Int64
		def := &saga.Definition{Name: "paid", Steps: []saga.Step{{
			Name: "approve",
			Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
				known := *payments[a.BusinessKey] // as read before the PG call
				if a.Number == 1 {
					arrived.Done()
					<-release
				}
				return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error {
					pay := known
					pay.Status, pay.ApprovedAmount, pay.PaymentKey = pg.StatusApproved, pay.Amount, "pk-"+a.BusinessKey
					err := db.UpdatePaymentDeferred(ctx, tx, &pay, known.Version)
					if !errors.Is(err, store.ErrConflict) {
						if err == nil {
							return recordEffect(ctx, tx, a)
						}
						return err
					}
					// Moved since it was read: decide again on the row.
					reread.Add(1)
					cur, err := db.PaymentByIDTx(ctx, tx, known.ID)
					if err != nil {
						return err
					}
					if cur.Status == pg.StatusApproved {
						return recordEffect(ctx, tx, a) // approved already: nothing to write
					}
					return errors.New("unexpected status " + string(cur.Status))
				}}, nil
			},
			Retry: saga.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		}}}
		ids := startAtOnce(t, db, r, def, n, &arrived)
		// Notifications approve the others while the steps wait.
		for i := range n {
			if i == kept {
				continue
			}
			notified := *payments[key(i)]
			notified.Status, notified.ApprovedAmount, notified.PaymentKey = pg.StatusApproved, notified.Amount, "pk-"+key(i)
			require.NoError(t, db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				return db.UpdatePayment(ctx, tx, &notified, 1)
			}))
		}
		spy.completeSlowly(t, r, release, ids)

		for i, id := range ids {
			assert.Equal(t, 1, effectCount(t, db, `WHERE saga_id = ?`, id), "instance %d: its effect exactly once", i)
			got, err := db.PaymentByID(ctx, payments[key(i)].ID)
			require.NoError(t, err)
			assert.Equal(t, pg.StatusApproved, got.Status, "payment %d", i)
			assert.Equal(t, "pk-"+key(i), got.PaymentKey, "payment %d", i)
			assert.EqualValues(t, 2, got.Version, "payment %d written once", i)
		}
		assert.Greater(t, spy.largestGroup(), 1, "writes ready together share a transaction")
		assert.Equal(t, int64(n-1), reread.Load(), "each payment written meanwhile read again once, alone")
	})
}

// startAtOnce registers def, starts n instances of it (keys 0 to n-1), runs
// r, and waits until every instance's step was called (arrived done n
// times), so that their writes are ready together. It returns their ids.
func startAtOnce(t *testing.T, db *store.DB, r *saga.Runner, def *saga.Definition, n int, arrived *sync.WaitGroup) []string {
	t.Helper()
	require.NoError(t, r.Register(def))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = start(t, db, r, def, key(i)).ID
	}
	runFor(t, r)
	done := make(chan struct{})
	go func() { arrived.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the steps were not all called at once")
	}
	return ids
}

// completeSlowly lets the waiting steps go on (closes release) with every
// instance update slowed, so that their writes queue and form groups, and
// waits until every instance completed.
func (g *groupSpy) completeSlowly(t *testing.T, r *saga.Runner, release chan struct{}, ids []string) {
	t.Helper()
	g.slow.Store(true)
	defer g.slow.Store(false)
	close(release)
	for _, id := range ids {
		waitState(t, r, id, saga.Completed)
	}
}
