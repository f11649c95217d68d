// Package retentionstore deletes paygate's old rows in small batches, and
// keeps the named leases that let one process at a time run a periodic job,
// on paygate's database (MySQL/MariaDB and SQLite). paygate.Prune drives it.
//
// What it deletes is a fixed list (Target): finished sagas with their
// steps, done event deliveries, events left without deliveries, and the
// webhook log. The payment event log, the settlement ledger, payments and
// cancels are never touched, nor is any saga still running or needing
// attention, nor any delivery still pending or parked as dead.
//
// Each batch is found by a range of one index in keyset order (migration
// 0510 adds the indexes) and deleted by primary key in a transaction of its
// own that holds a few hundred row locks for milliseconds, on rows no
// writer wants: a finished saga, a delivered event. Nothing is deleted with
// OFFSET or by a scan of a table.
//
//	rs := retentionstore.New(db)
//	var cur retentionstore.Cursor
//	for {
//		ids, next, err := rs.Batch(ctx, retentionstore.WebhookLog, before, cur, 500)
//		if err != nil || len(ids) == 0 {
//			break
//		}
//		_, _ = rs.Delete(ctx, retentionstore.WebhookLog, before, ids)
//		cur = next
//	}
package retentionstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/store"
)

// Target names a kind of row pruning deletes.
type Target string

// The targets, in the order a prune runs them: deliveries before the
// events they belong to.
const (
	// FinishedSagas are saga instances COMPLETED or COMPENSATED (their
	// last write before the cut-off), deleted with their step rows.
	FinishedSagas Target = "sagas"
	// DoneDeliveries are outbox deliveries in state DONE. Pending and
	// dead ones are kept.
	DoneDeliveries Target = "deliveries"
	// DeliveredEvents are outbox events created before the cut-off that no
	// delivery row refers to any more: every subscriber's delivery was done
	// and pruned (an event with a dead delivery stays).
	DeliveredEvents Target = "events"
	// WebhookLog is the log of PG notifications, by the time received.
	WebhookLog Target = "webhooks"
)

// Targets lists every target in the order a prune runs them.
var Targets = []Target{FinishedSagas, DoneDeliveries, DeliveredEvents, WebhookLog}

// Store prunes a paygate database. It is safe for concurrent use.
type Store struct {
	db *store.DB
}

// New returns the retention store of db (migrated to 0510 or later).
func New(db *store.DB) *Store { return &Store{db: db} }

// Cursor is where the next batch of a target starts: after the last row of
// the previous one, in the order of the target's index. The zero Cursor
// starts at the oldest row.
type Cursor struct {
	// phase is the saga state being walked (FinishedSagas walks one state
	// after the other, each on its own index range).
	phase  int
	at     time.Time
	id     any
	primed bool
}

// finishedStates are the saga states FinishedSagas deletes, walked in this
// order.
var finishedStates = []string{"COMPLETED", "COMPENSATED"}

// selectSQL is the batch query of t: the ids and times of up to limit rows
// older than the cut-off, after the cursor when keyset is set. Arguments:
// [state], before, [at, at, id], limit.
func selectSQL(t Target, keyset bool) (string, error) {
	var table, at, where string
	switch t {
	case FinishedSagas:
		table, at, where = "saga_instances", "updated_at", "state = ? AND updated_at < ?"
	case DoneDeliveries:
		table, at, where = "saga_deliveries", "updated_at", "status = 'DONE' AND updated_at < ?"
	case DeliveredEvents:
		table, at, where = "saga_events", "created_at", "created_at < ?"
	case WebhookLog:
		table, at, where = "webhook_deliveries", "received_at", "received_at < ?"
	default:
		return "", fmt.Errorf("retentionstore: unknown target %q", t)
	}
	if keyset {
		// at >= ? bounds the index range; the rest skips the ties
		// already seen.
		where += " AND " + at + " >= ? AND NOT (" + at + " = ? AND id <= ?)"
	}
	if t == DeliveredEvents {
		where += " AND NOT EXISTS (SELECT 1 FROM saga_deliveries d WHERE d.event_id = " + table + ".id)"
	}
	return "SELECT id, " + at + " FROM " + table + " WHERE " + where + " ORDER BY " + at + ", id LIMIT ?", nil
}

func (c Cursor) args(t Target, before time.Time, limit int) []any {
	var args []any
	if t == FinishedSagas {
		args = append(args, finishedStates[c.phase])
	}
	args = append(args, dbTime(before))
	if c.primed {
		args = append(args, dbTime(c.at), dbTime(c.at), c.id)
	}
	return append(args, limit)
}

// Batch returns the ids of up to limit rows of t older than before, after
// cur, and the cursor after them. No ids means the target has nothing more
// to prune. It reads without locking.
func (s *Store) Batch(ctx context.Context, t Target, before time.Time, cur Cursor, limit int) ([]string, Cursor, error) {
	if limit <= 0 {
		return nil, cur, fmt.Errorf("retentionstore: batch size must be positive, got %d", limit)
	}
	for {
		if t == FinishedSagas && cur.phase >= len(finishedStates) {
			return nil, cur, nil
		}
		query, err := selectSQL(t, cur.primed)
		if err != nil {
			return nil, cur, err
		}
		rows, err := s.db.SQL().QueryContext(ctx, query, cur.args(t, before, limit)...)
		if err != nil {
			return nil, cur, fmt.Errorf("retentionstore: find %s to prune: %w", t, err)
		}
		var ids []string
		next := cur
		for rows.Next() {
			var at time.Time
			if t == DoneDeliveries {
				var id int64
				err = rows.Scan(&id, &at)
				ids, next.id = append(ids, fmt.Sprint(id)), id
			} else {
				var id string
				err = rows.Scan(&id, &at)
				ids, next.id = append(ids, id), id
			}
			if err != nil {
				rows.Close()
				return nil, cur, fmt.Errorf("retentionstore: find %s to prune: %w", t, err)
			}
			next.at, next.primed = at, true
		}
		if err := rows.Close(); err != nil {
			return nil, cur, fmt.Errorf("retentionstore: find %s to prune: %w", t, err)
		}
		if err := rows.Err(); err != nil {
			return nil, cur, fmt.Errorf("retentionstore: find %s to prune: %w", t, err)
		}
		if len(ids) > 0 || t != FinishedSagas {
			return ids, next, nil
		}
		cur = Cursor{phase: cur.phase + 1}
	}
}

// Deleted counts what one Delete removed.
type Deleted struct {
	Rows int64
	// Steps are the step rows of the FinishedSagas deleted.
	Steps int64
}

// Delete deletes the rows of t among ids that still qualify (older than
// before, finished, done, without deliveries), in one transaction, and
// returns how many went. ids come from Batch.
func (s *Store) Delete(ctx context.Context, t Target, before time.Time, ids []string) (Deleted, error) {
	if len(ids) == 0 {
		return Deleted{}, nil
	}
	var out Deleted
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = Deleted{}
		var err error
		switch t {
		case FinishedSagas:
			out, err = s.deleteSagas(ctx, tx, before, ids)
		case DoneDeliveries:
			args := make([]any, 0, len(ids)+1)
			for _, id := range ids {
				n, perr := strconv.ParseInt(id, 10, 64)
				if perr != nil {
					return fmt.Errorf("delivery id %q is not a number", id)
				}
				args = append(args, n)
			}
			out.Rows, err = execN(ctx, tx, deleteSQL(t, len(ids)), append(args, dbTime(before))...)
		case DeliveredEvents:
			out.Rows, err = execN(ctx, tx, deleteSQL(t, len(ids)), append(anys(ids), dbTime(before))...)
		case WebhookLog:
			out.Rows, err = execN(ctx, tx, deleteSQL(t, len(ids)), append(anys(ids), dbTime(before))...)
		default:
			err = fmt.Errorf("unknown target %q", t)
		}
		return err
	})
	if err != nil {
		return Deleted{}, fmt.Errorf("retentionstore: prune %s: %w", t, err)
	}
	return out, nil
}

// deleteSagas locks the instances among ids still finished, then deletes
// their steps and them: a finished saga never changes again, so no writer
// waits on these locks.
func (s *Store) deleteSagas(ctx context.Context, tx *sql.Tx, before time.Time, ids []string) (Deleted, error) {
	rows, err := tx.QueryContext(ctx, lockSagasSQL(len(ids), s.db.Dialect()), append(anys(ids), dbTime(before))...)
	if err != nil {
		return Deleted{}, err
	}
	var done []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return Deleted{}, err
		}
		done = append(done, id)
	}
	if err := rows.Close(); err != nil {
		return Deleted{}, err
	}
	if err := rows.Err(); err != nil {
		return Deleted{}, err
	}
	if len(done) == 0 {
		return Deleted{}, nil
	}
	var out Deleted
	if out.Steps, err = execN(ctx, tx, deleteStepsSQL(len(done)), anys(done)...); err != nil {
		return Deleted{}, err
	}
	if out.Rows, err = execN(ctx, tx, deleteSQL(FinishedSagas, len(done)), anys(done)...); err != nil {
		return Deleted{}, err
	}
	return out, nil
}

// deleteSQL deletes n rows of t by id, rechecking that each still
// qualifies (arguments: the ids, then the cut-off; FinishedSagas: the ids
// locked by lockSagasSQL only).
func deleteSQL(t Target, n int) string {
	in := "id IN (" + marks(n) + ")"
	switch t {
	case FinishedSagas:
		return "DELETE FROM saga_instances WHERE " + in
	case DoneDeliveries:
		return "DELETE FROM saga_deliveries WHERE " + in + " AND status = 'DONE' AND updated_at < ?"
	case DeliveredEvents:
		return "DELETE FROM saga_events WHERE " + in + " AND created_at < ?" +
			" AND NOT EXISTS (SELECT 1 FROM saga_deliveries d WHERE d.event_id = saga_events.id)"
	default:
		return "DELETE FROM webhook_deliveries WHERE " + in + " AND received_at < ?"
	}
}

// lockSagasSQL selects, and on MySQL locks, those of n saga ids still
// finished and older than the cut-off.
func lockSagasSQL(n int, d store.Dialect) string {
	q := "SELECT id FROM saga_instances WHERE id IN (" + marks(n) + ") AND state IN ('COMPLETED', 'COMPENSATED') AND updated_at < ?"
	if d == store.MySQL {
		q += " FOR UPDATE"
	}
	return q
}

// deleteStepsSQL deletes the steps of n sagas.
func deleteStepsSQL(n int) string {
	return "DELETE FROM saga_steps WHERE saga_id IN (" + marks(n) + ")"
}

// countSQL counts what Batch would walk, over the same index.
func countSQL(t Target) (string, error) {
	switch t {
	case FinishedSagas:
		return "SELECT COUNT(*) FROM saga_instances WHERE state IN ('COMPLETED', 'COMPENSATED') AND updated_at < ?", nil
	case DoneDeliveries:
		return "SELECT COUNT(*) FROM saga_deliveries WHERE status = 'DONE' AND updated_at < ?", nil
	case DeliveredEvents:
		return "SELECT COUNT(*) FROM saga_events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM saga_deliveries d WHERE d.event_id = saga_events.id)", nil
	case WebhookLog:
		return "SELECT COUNT(*) FROM webhook_deliveries WHERE received_at < ?", nil
	}
	return "", fmt.Errorf("retentionstore: unknown target %q", t)
}

// Count returns how many rows of t are older than before and would be
// pruned now. DeliveredEvents counts only events whose deliveries are gone
// already, not those a prune of DoneDeliveries would free: see
// CountFreedEvents.
func (s *Store) Count(ctx context.Context, t Target, before time.Time) (int64, error) {
	query, err := countSQL(t)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.SQL().QueryRowContext(ctx, query, dbTime(before)).Scan(&n); err != nil {
		return 0, fmt.Errorf("retentionstore: count %s: %w", t, err)
	}
	return n, nil
}

// CountFreedEvents counts the events created before eventsBefore whose
// every delivery is DONE and last written before deliveriesBefore: those a
// prune deletes once it deleted their deliveries (a dry run's count of
// DeliveredEvents).
func (s *Store) CountFreedEvents(ctx context.Context, eventsBefore, deliveriesBefore time.Time) (int64, error) {
	var n int64
	err := s.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM saga_events WHERE created_at < ?
  AND NOT EXISTS (SELECT 1 FROM saga_deliveries d WHERE d.event_id = saga_events.id AND NOT (d.status = 'DONE' AND d.updated_at < ?))`,
		dbTime(eventsBefore), dbTime(deliveriesBefore)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("retentionstore: count %s: %w", DeliveredEvents, err)
	}
	return n, nil
}

// CountSteps counts the step rows of the finished sagas last written before
// before: those a prune of FinishedSagas deletes with them.
func (s *Store) CountSteps(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM saga_steps st JOIN saga_instances i ON i.id = st.saga_id
WHERE i.state IN ('COMPLETED', 'COMPENSATED') AND i.updated_at < ?`, dbTime(before)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("retentionstore: count saga steps: %w", err)
	}
	return n, nil
}

func execN(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// dbTime is how times go into the database: UTC to the microsecond, like
// every other paygate table.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
