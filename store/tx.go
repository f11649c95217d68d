package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Querier is a *sql.DB, *sql.Tx or *sql.Conn: what a repository built on DB
// (such as store/sagastore) runs one query function on, whether it was given
// the pool or a transaction. DB's own reads take no Querier; they come in a
// plain form on the pool and a ...Tx form.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*sql.DB)(nil)
	_ Querier = (*sql.Tx)(nil)
	_ Querier = (*sql.Conn)(nil)
)

// ErrNestedTx is returned by InTx when it is called from inside another
// InTx's fn with that fn's context. A nested transaction would not join the
// outer one (and on SQLite it would wait forever for the writer slot the
// outer one holds); pass the outer *sql.Tx down instead.
var ErrNestedTx = errors.New("store: InTx called inside InTx")

type inTxKey struct{}

// InTransaction reports whether ctx is the context an InTx gave its fn: work
// that would open a transaction of its own there must not.
func InTransaction(ctx context.Context) bool { return ctx.Value(inTxKey{}) != nil }

// Retry policy of InTx: up to txMaxAttempts runs of fn, sleeping a random
// duration in [0, min(txBackoffCap, txBackoffBase·2^n)) between them ("full
// jitter", so colliding transactions do not collide again in step).
const (
	txMaxAttempts = 8
	txBackoffBase = 5 * time.Millisecond
	txBackoffCap  = 500 * time.Millisecond
)

// InTx runs fn in a transaction and commits it if fn returns nil. If fn
// returns an error or panics, the transaction is rolled back; a panic is
// re-raised after the rollback.
//
// InTx retries the whole transaction — fn included — when the database says
// the conflict is transient (see IsRetryable: deadlock, lock wait timeout,
// SQLite busy, a dropped connection), up to 8 attempts with capped, jittered
// backoff, and never past ctx's deadline. fn must therefore be re-runnable:
// it must do nothing but database work through tx, and must derive
// everything it writes from its inputs, not from state left by an earlier
// attempt. When the error comes from Commit on a dropped connection, the
// first attempt may in fact have committed; the next run then meets its own
// rows as unique violations, and fn should treat those as "already done"
// (every dedup key in paygate is a unique key for this reason).
//
// The returned error wraps the last attempt's error, so errors.Is and
// errors.As see what fn returned.
//
// On SQLite, InTx serializes transactions of this DB in Go, so concurrent
// callers queue instead of spinning on SQLITE_BUSY. Do not call InTx, or
// use db.SQL(), from inside fn with an in-memory database: it has one
// connection and fn holds it. Calling InTx with the context fn received
// returns ErrNestedTx.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if ctx.Value(inTxKey{}) != nil {
		return ErrNestedTx
	}
	ctx = context.WithValue(ctx, inTxKey{}, true)
	return db.retried(ctx, func() error { return db.runTx(ctx, fn) })
}

// Autocommit runs one statement with no transaction around it: the
// database commits it on its own, atomically and durably like a
// transaction of that one statement, without the round trips of BEGIN and
// COMMIT. It is retried, and serialized on SQLite, exactly as InTx's
// transactions are, so the statement must be re-runnable as their fn is.
// Called with the context an InTx gave its fn it returns ErrNestedTx: the
// statement would not join that transaction.
func (db *DB) Autocommit(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if InTransaction(ctx) {
		return nil, ErrNestedTx
	}
	var res sql.Result
	err := db.retried(ctx, func() error {
		release, err := db.takeWriter(ctx)
		if err != nil {
			return fmt.Errorf("store: statement: %w", err)
		}
		defer release()
		res, err = db.sql.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// takeWriter waits for the writer slot on SQLite, where writes of this DB
// take turns in Go; release gives it back. On MySQL there is none to take.
func (db *DB) takeWriter(ctx context.Context) (release func(), err error) {
	if db.writer == nil {
		return func() {}, nil
	}
	select {
	case db.writer <- struct{}{}:
		return func() { <-db.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// retried runs run — a transaction, or a statement that is one — until it
// succeeds, fails for good (see IsRetryable) or has had txMaxAttempts
// tries, with jittered backoff between them, never past ctx's deadline.
func (db *DB) retried(ctx context.Context, run func() error) error {
	var last error // the last transient error
	for attempt := 0; ; attempt++ {
		err := run()
		if err == nil {
			return nil
		}
		if last != nil && ctx.Err() != nil && !IsRetryable(err) {
			// The deadline (or cancellation) met a retry, in its BEGIN
			// say, after the timer let it start: the transient error
			// that made it retry is the cause to report, with the
			// context's.
			return fmt.Errorf("store: transaction gave up after %d attempts (%w): %w", attempt+1, err, last)
		}
		if !IsRetryable(err) {
			return err
		}
		last = err
		if attempt+1 >= txMaxAttempts {
			return fmt.Errorf("store: transaction gave up after %d attempts: %w", attempt+1, err)
		}
		wait := backoff(attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("store: transaction gave up after %d attempts, deadline near: %w", attempt+1, err)
		}
		if db.log != nil {
			db.log.Warn("store: transaction retried", "cause", RetryCause(err), "attempt", attempt+1, "wait", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: transaction gave up after %d attempts (%w): %w", attempt+1, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func backoff(attempt int) time.Duration {
	limit := txBackoffCap
	if attempt < 16 {
		limit = min(txBackoffCap, txBackoffBase<<attempt)
	}
	return rand.N(limit) + time.Millisecond
}

// runTx is one attempt. Its errors are not wrapped by "store: transaction"
// when fn returned them, so callers' messages stay readable.
func (db *DB) runTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) (err error) {
	release, err := db.takeWriter(ctx)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	defer release()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The rollback's own error adds nothing: either the
			// transaction is gone with its connection, or fn's error
			// already says why we are here.
			_ = tx.Rollback()
		}
	}()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// MySQL and MariaDB server error numbers paygate branches on.
const (
	mysqlErrDupEntry         = 1062 // ER_DUP_ENTRY
	mysqlErrDupEntryWithKey  = 1586 // ER_DUP_ENTRY_WITH_KEY_NAME
	mysqlErrLockWaitTimeout  = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlErrDeadlock         = 1213 // ER_LOCK_DEADLOCK
	mysqlErrCheckRead        = 1020 // ER_CHECKREAD: record changed since last read (MariaDB snapshot isolation)
	mysqlErrTooManyConns     = 1040 // ER_CON_COUNT_ERROR: server full, nothing was done
	mysqlErrServerShutdown   = 1053 // ER_SERVER_SHUTDOWN
	mysqlErrConnKilled       = 1927 // ER_CONNECTION_KILLED (MariaDB)
	mysqlErrQueryInterrupted = 1317 // ER_QUERY_INTERRUPTED: KILL QUERY, statement rolled back
)

// IsUniqueViolation reports whether err (or an error it wraps) is a unique or
// primary key violation: MySQL 1062/1586, SQLite SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return me.Number == mysqlErrDupEntry || me.Number == mysqlErrDupEntryWithKey
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// RetryCause names why a retryable error (IsRetryable) happened, for logs
// and counts: "deadlock", "lock wait timeout", "snapshot conflict",
// "connection lost", "query interrupted", "server busy" or "sqlite busy";
// "" for an error that is not retryable.
func RetryCause(err error) string {
	if !IsRetryable(err) {
		return ""
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return "connection lost"
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case mysqlErrDeadlock:
			return "deadlock"
		case mysqlErrLockWaitTimeout:
			return "lock wait timeout"
		case mysqlErrCheckRead:
			return "snapshot conflict"
		case mysqlErrConnKilled:
			return "connection lost"
		case mysqlErrQueryInterrupted:
			return "query interrupted"
		}
		return "server busy"
	}
	return "sqlite busy"
}

// IsRetryable reports whether err (or an error it wraps) means the
// transaction failed for a transient reason and running it again from the
// start is the right response:
//
//   - MySQL 1213 deadlock and 1205 lock wait timeout (InnoDB rolled back the
//     statement or transaction; the whole transaction is redone);
//   - MariaDB 1020 "record has changed since last read" (snapshot conflict);
//   - MySQL 1040 too many connections, 1053 server shutting down, MariaDB
//     1927 connection killed, 1317 query interrupted (KILL QUERY: the
//     statement was rolled back, the transaction is redone from the start);
//   - SQLite SQLITE_BUSY and SQLITE_LOCKED, with their extended codes;
//   - a dropped connection: driver.ErrBadConn or the MySQL driver's
//     ErrInvalidConn.
//
// Context cancellation and deadline errors are not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case mysqlErrDeadlock, mysqlErrLockWaitTimeout, mysqlErrCheckRead,
			mysqlErrTooManyConns, mysqlErrServerShutdown, mysqlErrConnKilled, mysqlErrQueryInterrupted:
			return true
		}
		return false
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
