package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Deferred holds the writes a transaction put off to its end, so that the
// writes of many callers sharing one transaction (a group commit) reach the
// database as one multi-row INSERT per table instead of one statement each,
// and so that on MySQL everything put off reaches the server in one round
// trip. Repositories defer only writes whose rows nothing in the
// transaction reads afterwards: inserts whose keys are new (event ids,
// delivery rows, a new payment and its order claim, a new saga instance),
// upserts of step records and the payments' compare-and-set updates. A
// unique violation then surfaces from Flush, for the whole transaction.
//
// The owner of the transaction creates it with DB.WithDeferred, runs the
// writes with the context it returns, and calls Flush before it commits.
// Outside such a context every write runs at once, as always.
type Deferred struct {
	batch    bool // send everything in one round trip (MySQL)
	stmts    []deferredStmt
	order    []string
	shapes   map[string]*deferredInsert
	payments paymentUpdates
}

type deferredStmt struct {
	query string
	args  []any
}

type deferredInsert struct {
	head, row, tail string
	rows            int
	args            []any
}

type deferredKey struct{}

// WithDeferred returns a context whose writes are deferred to the returned
// Deferred's Flush.
func (db *DB) WithDeferred(ctx context.Context) (context.Context, *Deferred) {
	d := &Deferred{shapes: map[string]*deferredInsert{}, batch: db.dialect == MySQL}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// DeferredFrom returns the Deferred of ctx, or nil when writes made with
// ctx run at once.
func DeferredFrom(ctx context.Context) *Deferred {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	return d
}

// Add defers rows rows of the INSERT whose text up to VALUES is head and
// whose row is row (its placeholders), with the rows' arguments in order.
// Rows of the same head are written together, tables in the order they
// were first added.
func (d *Deferred) Add(head, row string, rows int, args ...any) {
	d.AddTail(head, row, "", rows, args...)
}

// AddTail is Add for an INSERT whose rows are followed by tail (an ON
// DUPLICATE KEY or ON CONFLICT clause): rows of the same head and tail are
// written together.
func (d *Deferred) AddTail(head, row, tail string, rows int, args ...any) {
	key := head + "\x00" + tail
	s, ok := d.shapes[key]
	if !ok {
		s = &deferredInsert{head: head, row: row, tail: tail}
		d.shapes[key] = s
		d.order = append(d.order, key)
	}
	s.rows += rows
	s.args = append(s.args, args...)
}

// Exec defers the statement query with its arguments. Deferred statements
// run in the order they were added, before the deferred inserts.
func (d *Deferred) Exec(query string, args ...any) {
	d.stmts = append(d.stmts, deferredStmt{query: query, args: args})
}

// Flush writes what was deferred in tx — the statements, then the new rows,
// one INSERT per table, then the payments' compare-and-set updates in one
// statement — and forgets it. On MySQL all of it is one round trip (the
// connections store.Open makes allow several statements in one request;
// the server stops at the first that fails). A payment update that does not
// land (its version moved, or the payment was updated twice in the
// transaction) is ErrConflict, a duplicate key ErrDuplicate: the caller
// rolls the transaction back.
func (d *Deferred) Flush(ctx context.Context, tx *sql.Tx) error {
	return d.flush(ctx, tx, false)
}

// FlushCommit is Flush as the transaction's last work: nothing may run in
// tx after it but its Commit or Rollback. On MySQL, when nothing in the
// batch is checked once it has run (no payment's compare-and-set), the
// COMMIT travels in the same request — the server stops at the first
// statement that fails, so it commits only when every write landed — and
// tx.Commit then sends nothing. A statement run in tx after a COMMIT that
// travelled fails with ErrCommitted. Otherwise it is Flush, and tx.Commit
// commits as always.
func (d *Deferred) FlushCommit(ctx context.Context, tx *sql.Tx) error {
	return d.flush(ctx, tx, true)
}

func (d *Deferred) flush(ctx context.Context, tx *sql.Tx, last bool) error {
	defer d.reset()
	if d.payments.twice {
		return fmt.Errorf("store: deferred update of %d payments: a payment updated twice in one transaction: %w", len(d.payments.ids), ErrConflict)
	}
	stmts := d.stmts
	for _, key := range d.order {
		s := d.shapes[key]
		stmts = append(stmts, deferredStmt{query: s.head + values(s.row, s.rows) + s.tail, args: s.args})
	}
	updates := len(d.payments.ids)
	if updates > 0 {
		stmts = append(stmts, d.payments.statement())
	}
	if len(stmts) == 0 {
		return nil
	}
	commit := last && d.batch && updates == 0
	var res sql.Result
	if d.batch && (len(stmts) > 1 || commit) {
		var q strings.Builder
		var args []any
		for i, s := range stmts {
			if i > 0 {
				q.WriteString(";\n")
			}
			q.WriteString(s.query)
			args = append(args, s.args...)
		}
		if commit {
			q.WriteString(commitSuffix)
			ctx = context.WithValue(ctx, commitsKey{}, true)
		}
		r, err := tx.ExecContext(ctx, q.String(), args...)
		if err != nil {
			return flushError(len(stmts), err)
		}
		res = r
	} else {
		for _, s := range stmts {
			r, err := tx.ExecContext(ctx, s.query, s.args...)
			if err != nil {
				return flushError(len(stmts), err)
			}
			res = r
		}
	}
	if updates == 0 {
		return nil
	}
	// The payments' update is the last statement: its count is the result's.
	landed, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: deferred update of %d payments: %w", updates, err)
	}
	if landed != int64(updates) {
		return fmt.Errorf("store: deferred update of %d payments: %d landed: %w", updates, landed, ErrConflict)
	}
	return nil
}

func (d *Deferred) reset() {
	d.stmts, d.order, d.shapes, d.payments = nil, nil, map[string]*deferredInsert{}, paymentUpdates{}
}

func flushError(n int, err error) error {
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: deferred writes (%d statements): %w: %w", n, ErrDuplicate, err)
	}
	return fmt.Errorf("store: deferred writes (%d statements): %w", n, err)
}

// ExecOrDefer runs query in tx or, in a context whose writes are deferred
// (DB.WithDeferred), adds it to its Deferred and returns nil. It reports
// whether the statement was deferred. The caller defers only a statement
// whose effect nothing in the transaction reads before Flush and whose
// errors it has no other answer for than failing the transaction.
func ExecOrDefer(ctx context.Context, tx *sql.Tx, query string, args ...any) (deferred bool, err error) {
	if d := DeferredFrom(ctx); d != nil {
		d.Exec(query, args...)
		return true, nil
	}
	_, err = tx.ExecContext(ctx, query, args...)
	return false, err
}

// InsertRows runs the INSERT of n rows whose text up to VALUES is head and
// whose row is row (its placeholders), with the rows' arguments in order —
// or, in a context whose writes are deferred (DB.WithDeferred), adds the rows
// to its Deferred and returns nil.
func InsertRows(ctx context.Context, tx *sql.Tx, head, row string, n int, args ...any) error {
	if d := DeferredFrom(ctx); d != nil {
		d.Add(head, row, n, args...)
		return nil
	}
	_, err := tx.ExecContext(ctx, head+values(row, n), args...)
	return err
}

// values is n rows of placeholders, comma-separated.
func values(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}
