package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Deferred holds the rows that inserts made in a transaction put off to its
// end, so that the inserts of many writes sharing one transaction (a group
// commit) reach the database as one multi-row INSERT per table instead of
// one statement each. Repositories defer only inserts whose rows nothing
// in the transaction reads afterwards and whose keys are new (event ids,
// delivery rows); a unique violation then surfaces from Flush, for the
// whole transaction.
//
// The owner of the transaction creates it with WithDeferred, runs the
// writes with the context it returns, and calls Flush before it commits.
// Outside such a context every insert runs at once, as always.
type Deferred struct {
	order    []string
	shapes   map[string]*deferredInsert
	payments paymentUpdates
}

type deferredInsert struct {
	head, row string
	rows      int
	args      []any
}

type deferredKey struct{}

// WithDeferred returns a context whose inserts are deferred to the returned
// Deferred's Flush.
func WithDeferred(ctx context.Context) (context.Context, *Deferred) {
	d := &Deferred{shapes: map[string]*deferredInsert{}}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// DeferredFrom returns the Deferred of ctx, or nil when inserts made with
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
	s, ok := d.shapes[head]
	if !ok {
		s = &deferredInsert{head: head, row: row}
		d.shapes[head] = s
		d.order = append(d.order, head)
	}
	s.rows += rows
	s.args = append(s.args, args...)
}

// Flush writes what was deferred in tx — the payments' compare-and-set
// updates in one statement, then the new rows, one INSERT per table — and
// forgets it. A payment update that does not land (its version moved, or
// the payment was updated twice in the transaction) is ErrConflict, a
// duplicate key ErrDuplicate: the caller rolls the transaction back.
func (d *Deferred) Flush(ctx context.Context, tx *sql.Tx) error {
	if err := d.payments.flush(ctx, tx); err != nil {
		return err
	}
	d.payments = paymentUpdates{}
	for _, head := range d.order {
		s := d.shapes[head]
		if _, err := tx.ExecContext(ctx, head+values(s.row, s.rows), s.args...); err != nil {
			if IsUniqueViolation(err) {
				return fmt.Errorf("store: deferred insert of %d rows: %w: %w", s.rows, ErrDuplicate, err)
			}
			return fmt.Errorf("store: deferred insert of %d rows: %w", s.rows, err)
		}
	}
	d.order, d.shapes = nil, map[string]*deferredInsert{}
	return nil
}

// InsertRows runs the INSERT of n rows whose text up to VALUES is head and
// whose row is row (its placeholders), with the rows' arguments in order —
// or, in a context whose inserts are deferred (WithDeferred), adds the rows
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
