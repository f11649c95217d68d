package outbox_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/storetest"
)

// quietLogger keeps test output readable.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// outboxConfig is an outbox configuration for tests: fast polling, a lease
// long enough for a loaded machine.
func outboxConfig() outbox.Config {
	return outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond, Lease: 10 * time.Second, Logger: quietLogger()}}
}

func newStore(db *store.DB) *sagastore.Store { return sagastore.New(db) }

// ledger is a DB-side subscriber: it writes one row per event in the
// delivery's transaction; a second write of the same event would violate
// the primary key and fail the test.
func ledger(t testing.TB, db *store.DB, table string) outbox.Handler {
	_, err := db.SQL().ExecContext(context.Background(),
		`CREATE TABLE `+table+` (event_id VARCHAR(64) NOT NULL PRIMARY KEY, event_key VARCHAR(64) NOT NULL, seq INT NOT NULL)`)
	require.NoError(t, err)
	var seq atomic.Int64
	return func(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (event_id, event_key, seq) VALUES (?, ?, ?)`, d.ID, d.Key, seq.Add(1))
		return err
	}
}

func rowCount(t testing.TB, db *store.DB, table string) int {
	var n int
	require.NoError(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&n))
	return n
}

func emit(t testing.TB, db *store.DB, o *outbox.Outbox, evs ...outbox.Event) {
	t.Helper()
	require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, ev := range evs {
			if _, err := o.Emit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

type relayFunc func(ctx context.Context, ds []outbox.Delivery) error

func (f relayFunc) Publish(ctx context.Context, ds []outbox.Delivery) error { return f(ctx, ds) }

// runFor runs o in the background until the test ends or stop is called.
func runFor(t testing.TB, o *outbox.Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := o.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// waitCount polls until count() returns want. It gives up only when the
// count has not moved for a minute: a loaded machine makes the work slow,
// not stuck, and only stuck work is a failure.
func waitCount(t testing.TB, what string, want int, count func() int) {
	t.Helper()
	got := count()
	deadline := time.Now().Add(time.Minute)
	for got != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if now := count(); now != got {
			got, deadline = now, time.Now().Add(time.Minute)
		}
	}
	require.Equal(t, want, got, what+" (no progress for a minute)")
}

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
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
