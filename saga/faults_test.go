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

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/storetest"
)

// faultyStore wraps the real store and, every so often, makes a transaction
// look failed to the caller:
//
//   - deadlock: fn ran and wrote everything, then the transaction fails with
//     MySQL 1213, so it is rolled back and store.InTx runs fn again (F23);
//   - lost commit: the transaction committed, but the caller saw an error,
//     so fn runs again in a new transaction, which is what store.InTx does
//     after a commit on a dropped connection (F25).
type faultyStore struct {
	*sagastore.Store
	n          atomic.Int64
	every      int64
	deadlocks  atomic.Int64
	lostCommit atomic.Int64
}

func (f *faultyStore) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	n := f.n.Add(1)
	if n%f.every == 0 {
		f.deadlocks.Add(1)
		injected := false
		return f.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := fn(ctx, tx); err != nil {
				return err
			}
			if !injected {
				injected = true
				return &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
			}
			return nil
		})
	}
	err := f.Store.InTx(ctx, fn)
	if err == nil && n%f.every == f.every/2 {
		f.lostCommit.Add(1)
		return f.Store.InTx(ctx, fn)
	}
	return err
}

// uniqueEffect records an effect; a second commit of the same effect is
// counted instead of failing, so the test sees it.
func uniqueEffect(dups *atomic.Int64) func(ctx context.Context, tx *sql.Tx, a saga.Attempt) error {
	return func(ctx context.Context, tx *sql.Tx, a saga.Attempt) error {
		err := recordEffect(ctx, tx, a)
		if store.IsUniqueViolation(err) {
			dups.Add(1)
			return nil
		}
		return err
	}
}

func TestFaults_DeadlocksAndLostCommits_EveryEffectOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		effects(t, db)
		fs := &faultyStore{Store: newStore(db), every: 3}
		var dups atomic.Int64
		effect := uniqueEffect(&dups)
		mk := func(name string, failFor func(i int) bool) saga.Step {
			return saga.Step{
				Name: name,
				Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					var i int
					_, _ = fmt.Sscanf(a.BusinessKey, "order-%d", &i)
					if failFor != nil && failFor(i) {
						return saga.Result{}, saga.Permanent(errors.New("refused"))
					}
					return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return effect(ctx, tx, a) }}, nil
				},
				Compensate: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return effect(ctx, tx, a) }}, nil
				},
			}
		}
		def := &saga.Definition{Name: "faulty", Steps: []saga.Step{
			mk("a", nil), mk("b", nil), mk("c", func(i int) bool { return i%4 == 0 }),
		}}
		// A claim whose commit is lost leaves its first rows leased until
		// the lease expires: keep the lease short so the test is quick.
		cfg := testConfig()
		cfg.Lease = 2 * time.Second
		r := saga.NewRunner(fs, cfg)
		require.NoError(t, r.Register(def))

		const n = 40
		ids := make([]string, n)
		for i := range n {
			require.NoError(t, fs.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				in, err := r.Start(ctx, tx, def, key(i), nil)
				if errors.Is(err, saga.ErrDuplicate) {
					// A lost commit: the first run of this
					// transaction landed.
					ids[i] = in.ID
					return nil
				}
				if err != nil {
					return err
				}
				ids[i] = in.ID
				return nil
			}))
		}
		runFor(t, r)
		for i, id := range ids {
			want := saga.Completed
			if i%4 == 0 {
				want = saga.Compensated
			}
			waitState(t, r, id, want)
		}
		assert.Positive(t, fs.deadlocks.Load())
		assert.Positive(t, fs.lostCommit.Load())
		assert.Zero(t, dups.Load(), "no step commit ran twice")
		// 3 action effects per completed saga; 2 actions + 2 compensations otherwise.
		assert.Equal(t, (n-n/4)*3+(n/4)*4, effectCount(t, db, ""))
		t.Logf("%s: %d injected deadlocks, %d lost commits", db.Dialect(), fs.deadlocks.Load(), fs.lostCommit.Load())
	})
}

// TestConcurrentRunners_NoStepTwiceNoneLost runs several runners, each on
// its own connection pool as separate processes would, over one MariaDB
// database (F21).
func TestConcurrentRunners_NoStepTwiceNoneLost(t *testing.T) {
	for _, runners := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d runners", runners), func(t *testing.T) {
			dsn, db := openShared(t, store.MySQL)
			effects(t, db)
			var calls sync.Map // idempotency key -> *atomic.Int64
			var inFlight sync.Map
			var overlaps atomic.Int64
			count := func(a saga.Attempt) {
				v, _ := calls.LoadOrStore(a.IdempotencyKey, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				f, _ := inFlight.LoadOrStore(a.SagaID, new(atomic.Int64))
				if f.(*atomic.Int64).Add(1) > 1 {
					overlaps.Add(1)
				}
			}
			done := func(a saga.Attempt) {
				f, _ := inFlight.Load(a.SagaID)
				f.(*atomic.Int64).Add(-1)
			}
			mk := func(name string) saga.Step {
				return saga.Step{Name: name, Action: func(ctx context.Context, a saga.Attempt) (saga.Result, error) {
					count(a)
					defer done(a)
					return saga.Result{Commit: func(ctx context.Context, tx *sql.Tx) error { return recordEffect(ctx, tx, a) }}, nil
				}}
			}
			def := &saga.Definition{Name: "many", Steps: []saga.Step{mk("a"), mk("b"), mk("c")}}
			var rs []*saga.Runner
			for range runners {
				rdb := openDSN(t, dsn)
				cfg := testConfig()
				cfg.Concurrency = 4
				r := saga.NewRunner(newStore(rdb), cfg)
				require.NoError(t, r.Register(def))
				rs = append(rs, r)
			}
			const n = 1000
			startMany(t, db, rs[0], def, n)
			for _, r := range rs {
				runFor(t, r)
			}
			waitCount(t, "completed sagas", n, func() int {
				list, err := rs[0].List(context.Background(), saga.Filter{States: []saga.State{saga.Completed}, Limit: 1000})
				require.NoError(t, err)
				return len(list)
			})
			assert.Equal(t, 3*n, effectCount(t, db, ""))
			twice := 0
			keys := 0
			calls.Range(func(k, v any) bool {
				keys++
				if v.(*atomic.Int64).Load() != 1 {
					twice++
				}
				return true
			})
			assert.Equal(t, 3*n, keys)
			assert.Zero(t, twice, "steps executed more than once")
			assert.Zero(t, overlaps.Load(), "steps of one saga ran concurrently")
		})
	}
}

// openShared creates a fresh migrated database of dialect d and returns
// its DSN and a first handle, for tests that open more handles on it.
func openShared(t testing.TB, d store.Dialect) (string, *store.DB) {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	db := openDSN(t, dsn)
	require.NoError(t, db.Migrate(context.Background()))
	return dsn, db
}

// openDSN opens another handle, its own connection pool, on a database, as
// another process would.
func openDSN(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	if db.Dialect() == store.MySQL {
		db.SQL().SetMaxOpenConns(8)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// startMany starts n instances, 100 per transaction.
func startMany(t testing.TB, db *store.DB, r *saga.Runner, def *saga.Definition, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for lo := 0; lo < n; lo += 100 {
		var batch []string
		require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			batch = batch[:0]
			for i := lo; i < min(lo+100, n); i++ {
				in, err := r.Start(ctx, tx, def, key(i), nil)
				if err != nil {
					return err
				}
				batch = append(batch, in.ID)
			}
			return nil
		}))
		ids = append(ids, batch...)
	}
	return ids
}
