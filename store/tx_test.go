package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

var errBoom = errors.New("boom")

func TestInTx_FnError_RollsBackEverything(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
			require.NoError(t, db.InsertPayment(ctx, tx, p))
			require.NoError(t, db.ClaimOrder(ctx, tx, p.OrderID, p.ID))
			require.NoError(t, db.AppendEvent(ctx, tx, newEvent(p, "PAYMENT_UNKNOWN")))
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payments"))
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payment_order_mapping"))
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payment_events"))
	})
}

func TestInTx_Panic_RollsBackAndRepanics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		p := newPayment(orderID(t))
		assert.PanicsWithValue(t, "fn panicked", func() {
			_ = db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
				require.NoError(t, db.InsertPayment(ctx, tx, p))
				panic("fn panicked")
			})
		})
		assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM payments"))
		// The writer slot and the connection were given back.
		insertPayment(t, db, newPayment(orderID(t)))
	})
}

func TestInTx_TransientErrors_RetriedUntilCommit(t *testing.T) {
	transient := []struct {
		name string
		err  error
	}{
		{"mysql deadlock 1213", &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}},
		{"mysql lock wait timeout 1205", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}},
		{"dropped connection", driver.ErrBadConn},
		{"mysql invalid connection, wrapped", fmt.Errorf("store: insert payment: %w", mysql.ErrInvalidConn)},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		for _, tc := range transient {
			t.Run(tc.name, func(t *testing.T) {
				p := newPayment(orderID(t))
				var calls atomic.Int32
				err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
					if err := db.InsertPayment(ctx, tx, p); err != nil {
						return err
					}
					if calls.Add(1) < 3 {
						return tc.err
					}
					return nil
				})
				require.NoError(t, err)
				assert.EqualValues(t, 3, calls.Load())
				assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID),
					"the failed attempts were rolled back, the last one committed")
			})
		}
	})
}

func TestInTx_PermanentError_NotRetried(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	var calls atomic.Int32
	err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
		calls.Add(1)
		return &mysql.MySQLError{Number: 1064, Message: "syntax error"}
	})
	require.Error(t, err)
	assert.EqualValues(t, 1, calls.Load())
}

func TestInTx_AlwaysDeadlocked_GivesUpAfterBoundedAttempts(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	var calls atomic.Int32
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock"}
	err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
		calls.Add(1)
		return deadlock
	})
	require.ErrorIs(t, err, deadlock)
	assert.Contains(t, err.Error(), "gave up after 8 attempts")
	assert.EqualValues(t, 8, calls.Load())
}

func TestInTx_StopsRetryingAtContextDeadline(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	// A connection opened and used first: opening one (the file, its
	// pragmas) on a loaded machine can take the whole deadline, and the
	// test is about retries, not about a BEGIN that never starts.
	require.NoError(t, db.InTx(context.Background(), func(context.Context, *sql.Tx) error { return nil }))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	var calls atomic.Int32
	start := time.Now()
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		calls.Add(1)
		return &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}
	})
	require.Error(t, err)
	// Whether the retry loop saw the deadline near before sleeping or met
	// it while sleeping (a late timer on a loaded machine; then the error
	// wraps the context's too), the last transient error is in it.
	var last *mysql.MySQLError
	require.ErrorAs(t, err, &last, "the last transient error is what the caller sees: %v", err)
	assert.EqualValues(t, 1205, last.Number)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "no sleeping past the deadline")
	assert.Less(t, calls.Load(), int32(8))
}

// The context ends while a retry runs (its BEGIN, or its statements, meet
// the deadline): the answer still carries the transient error that made it
// retry, with the context's.
func TestInTx_ContextEndsInARetry_TheTransientErrorStaysInTheAnswer(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if calls.Add(1) == 1 {
			return &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}
		}
		cancel()
		return fmt.Errorf("a read: %w", ctx.Err())
	})
	var last *mysql.MySQLError
	require.ErrorAs(t, err, &last, "%v", err)
	assert.EqualValues(t, 1205, last.Number)
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 2, calls.Load())
}

func TestInTx_CanceledContext_NoAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			called = true
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, called)
	})
}

func TestInTx_Nested_RefusedInsteadOfDeadlocking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
			return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return nil })
		})
		require.ErrorIs(t, err, store.ErrNestedTx)
	})
}

func TestInTx_SQLiteCommitError_ReturnedNotRetriedNothingKept(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := ctxT(t)
	// A deferred foreign key is checked at COMMIT, so the commit itself
	// fails with a constraint error that retrying cannot fix.
	_, err := db.SQL().ExecContext(ctx, `CREATE TABLE t_parent (id INTEGER PRIMARY KEY)`)
	require.NoError(t, err)
	_, err = db.SQL().ExecContext(ctx, `CREATE TABLE t_child (id INTEGER PRIMARY KEY,
  parent_id INTEGER REFERENCES t_parent(id) DEFERRABLE INITIALLY DEFERRED)`)
	require.NoError(t, err)
	var calls atomic.Int32
	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		calls.Add(1)
		_, err := tx.ExecContext(ctx, `INSERT INTO t_child (id, parent_id) VALUES (1, 42)`)
		return err
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "store: commit")
	assert.EqualValues(t, 1, calls.Load())
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM t_child"))
	// The database is usable afterwards.
	insertPayment(t, db, newPayment(orderID(t)))
}

func TestInTx_MySQLConnectionKilledBeforeCommit_RetriedOnce(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	p := newPayment(orderID(t))
	var calls atomic.Int32
	err := db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
		if err := db.InsertPayment(ctx, tx, p); err != nil {
			return err
		}
		if calls.Add(1) > 1 {
			return nil
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return err
		}
		// Another connection kills this one: the server rolls the
		// transaction back and the commit meets a dead connection.
		_, err := db.SQL().ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		return err
	})
	require.NoError(t, err)
	assert.EqualValues(t, 2, calls.Load())
	assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM payments WHERE id = ?", p.ID))
}

func TestInTx_MySQLRealDeadlock_VictimRetriedBothApplyOnce(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.MySQL)
	ctx := ctxT(t)
	_, err := db.SQL().ExecContext(ctx, `CREATE TABLE t_counter (id INT PRIMARY KEY, n INT NOT NULL)`)
	require.NoError(t, err)
	_, err = db.SQL().ExecContext(ctx, `INSERT INTO t_counter VALUES (1, 0), (2, 0)`)
	require.NoError(t, err)

	// Each transaction increments both rows, in opposite orders. On the
	// first attempt both wait until the other holds its first row, which
	// makes InnoDB pick a deadlock victim.
	var holding sync.WaitGroup
	holding.Add(2)
	var attempts atomic.Int32
	run := func(first, second int) error {
		firstAttempt := true
		return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			attempts.Add(1)
			if _, err := tx.ExecContext(ctx, "UPDATE t_counter SET n = n + 1 WHERE id = ?", first); err != nil {
				return err
			}
			if firstAttempt {
				firstAttempt = false
				holding.Done()
				holding.Wait()
			}
			_, err := tx.ExecContext(ctx, "UPDATE t_counter SET n = n + 1 WHERE id = ?", second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(1, 2) }()
	go func() { errs <- run(2, 1) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	assert.EqualValues(t, 3, attempts.Load(), "exactly one victim, retried once")
	assert.Equal(t, 2, count(t, db, "SELECT n FROM t_counter WHERE id = 1"))
	assert.Equal(t, 2, count(t, db, "SELECT n FROM t_counter WHERE id = 2"))
}

func TestIsRetryable_SQLiteBusyFromAnotherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "busy.db")
	db, err := store.Open(ctxT(t), "sqlite:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Migrate(ctxT(t)))

	// A second handle that does not wait at all for the lock.
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })

	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctxT(t), func(ctx context.Context, tx *sql.Tx) error {
			if err := db.InsertPayment(ctx, tx, newPayment(orderID(t))); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	_, err = other.Begin()
	close(release)
	require.NoError(t, <-done)
	require.Error(t, err)
	assert.True(t, store.IsRetryable(err), "SQLITE_BUSY must be retryable: %v", err)
	assert.False(t, store.IsUniqueViolation(err))
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errBoom, false},
		{"deadlock", &mysql.MySQLError{Number: 1213}, true},
		{"lock wait timeout", &mysql.MySQLError{Number: 1205}, true},
		{"deadlock wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &mysql.MySQLError{Number: 1213})), true},
		{"mariadb record changed", &mysql.MySQLError{Number: 1020}, true},
		{"too many connections", &mysql.MySQLError{Number: 1040}, true},
		{"connection killed", &mysql.MySQLError{Number: 1927}, true},
		{"query killed", &mysql.MySQLError{Number: 1317}, true},
		{"duplicate entry", &mysql.MySQLError{Number: 1062}, false},
		{"syntax error", &mysql.MySQLError{Number: 1064}, false},
		{"bad conn", driver.ErrBadConn, true},
		{"invalid conn", mysql.ErrInvalidConn, true},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"deadlock after cancel", errors.Join(context.Canceled, &mysql.MySQLError{Number: 1213}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, store.IsRetryable(tc.err))
		})
	}
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errBoom, false},
		{"mysql 1062", &mysql.MySQLError{Number: 1062}, true},
		{"mysql 1586", &mysql.MySQLError{Number: 1586}, true},
		{"mysql 1062 wrapped", fmt.Errorf("store: x: %w", &mysql.MySQLError{Number: 1062}), true},
		{"mysql deadlock", &mysql.MySQLError{Number: 1213}, false},
		{"store duplicate sentinel alone", store.ErrDuplicate, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, store.IsUniqueViolation(tc.err))
		})
	}
}

func TestIsUniqueViolation_RealDriverErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := ctxT(t)
		insert := func(query string, args ...any) error {
			return db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, query, args...)
				return err
			})
		}
		now := time.Now().UTC()
		ins := "INSERT INTO payment_order_mapping (order_id, payment_id, created_at) VALUES (?, ?, ?)"
		require.NoError(t, insert(ins, "o-1", "pay_1", now))
		err := insert(ins, "o-1", "pay_2", now)
		require.Error(t, err)
		assert.True(t, store.IsUniqueViolation(err), "primary key: %v", err)
		assert.False(t, store.IsRetryable(err))

		ins = "INSERT INTO payment_cancels (id, payment_id, idempotency_key, amount, currency, reason, status, created_at, updated_at, version) VALUES (?, ?, 'k', 1, 'KRW', '', 'REQUESTED', ?, ?, 1)"
		require.NoError(t, insert(ins, "c1", "pay_1", now, now))
		err = insert(ins, "c2", "pay_1", now, now)
		assert.True(t, store.IsUniqueViolation(err), "unique key: %v", err)

		err = insert("INSERT INTO payment_cancels (id, payment_id, idempotency_key, amount, currency, reason, status, created_at, updated_at, version) VALUES ('c3', 'p', 'k3', 0, 'KRW', '', 'REQUESTED', ?, ?, 1)", now, now)
		require.Error(t, err, "the amount check constraint holds")
		assert.False(t, store.IsUniqueViolation(err), "a check violation is not a unique violation: %v", err)
	})
}
