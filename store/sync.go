package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PaymentSync is a payment's place on the schedule of lookups at its PG
// (payment_syncs): how the flow learns of cancels made elsewhere.
type PaymentSync struct {
	PaymentID string
	// NextAt is when the payment is next due; while a claim holds it, when
	// the claim expires.
	NextAt time.Time
	// SyncedAt is the last lookup that worked; zero before the first.
	SyncedAt time.Time
	// Failures counts lookups that failed since the last that worked;
	// LastError is the latest one's error.
	Failures  int
	LastError string
	CreatedAt time.Time
}

const syncColumns = `payment_id, next_at, synced_at, failures, last_error, created_at`

// ScheduleSync puts a payment on the lookup schedule, due at next, in tx. A
// payment already on it keeps its schedule.
func (db *DB) ScheduleSync(ctx context.Context, tx *sql.Tx, paymentID string, next time.Time) error {
	return db.ScheduleSyncs(ctx, tx, []SyncDue{{PaymentID: paymentID, NextAt: next}})
}

// SyncDue is a payment to put on the lookup schedule and when it is first
// due.
type SyncDue struct {
	PaymentID string
	NextAt    time.Time
}

// ScheduleSyncs puts payments on the lookup schedule in tx, in one
// statement; each payment already on it (or named twice) keeps its first
// schedule. A payment without an id is refused before anything is written.
func (db *DB) ScheduleSyncs(ctx context.Context, tx *sql.Tx, due []SyncDue) error {
	if len(due) == 0 {
		return nil
	}
	now := db.clock()
	args := make([]any, 0, 3*len(due))
	for _, d := range due {
		if err := checkFields(check{"payment id", d.PaymentID, maxIDLen, true}); err != nil {
			return fmt.Errorf("store: schedule sync: %w", err)
		}
		args = append(args, d.PaymentID, dbTime(d.NextAt), now)
	}
	const (
		head = `INSERT INTO payment_syncs (payment_id, next_at, failures, last_error, created_at) VALUES `
		row  = "(?, ?, 0, '', ?)"
	)
	tail := ` ON DUPLICATE KEY UPDATE payment_id = payment_id`
	if db.dialect != MySQL {
		tail = ` ON CONFLICT (payment_id) DO NOTHING`
	}
	if d := DeferredFrom(ctx); d != nil {
		// Written at the flush, with the other payments a group schedules.
		d.AddTail(head, row, tail, len(due), args...)
		return nil
	}
	if _, err := tx.ExecContext(ctx, head+values(row, len(due))+tail, args...); err != nil {
		if len(due) == 1 {
			return fmt.Errorf("store: schedule sync of %q: %w", due[0].PaymentID, err)
		}
		return fmt.Errorf("store: schedule sync of %d payments: %w", len(due), err)
	}
	return nil
}

// ClaimSyncs claims up to limit payments due at now (NextAt <= now), most
// overdue first, in tx: their NextAt moves to until, so no other claim takes
// them while they are looked up, and a claimer that dies leaves them due
// again at until. On MySQL the read passes over rows other claims hold (FOR
// UPDATE SKIP LOCKED); on SQLite the immediate transaction is the only
// writer.
func (db *DB) ClaimSyncs(ctx context.Context, tx *sql.Tx, now, until time.Time, limit int) ([]PaymentSync, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: claim syncs: %w: limit %d must be positive", ErrInvalid, limit)
	}
	ss, err := querySyncs(ctx, tx, `SELECT `+syncColumns+` FROM payment_syncs
  WHERE next_at <= ? ORDER BY next_at, payment_id LIMIT ?`+db.skipLocked(), dbTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim syncs: %w", err)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	args := []any{dbTime(until)}
	for _, s := range ss {
		args = append(args, s.PaymentID)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ss)), ", ")
	if _, err := tx.ExecContext(ctx, `UPDATE payment_syncs SET next_at = ? WHERE payment_id IN (`+marks+`)`, args...); err != nil {
		return nil, fmt.Errorf("store: claim syncs: %w", err)
	}
	for i := range ss {
		ss[i].NextAt = dbTime(until)
	}
	return ss, nil
}

// SyncDone records a lookup that worked and schedules the next at next. Like
// SyncFailed and Unschedule, it runs as one statement of its own, outside
// any transaction.
func (db *DB) SyncDone(ctx context.Context, paymentID string, next time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE payment_syncs SET next_at = ?, synced_at = ?, failures = 0, last_error = ''
  WHERE payment_id = ?`, dbTime(next), db.clock(), paymentID)
	if err != nil {
		return fmt.Errorf("store: sync of %q done: %w", paymentID, err)
	}
	return nil
}

// SyncFailed records a lookup that failed and schedules the next at next.
func (db *DB) SyncFailed(ctx context.Context, paymentID string, next time.Time, cause string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE payment_syncs SET next_at = ?, failures = failures + 1, last_error = ?
  WHERE payment_id = ?`, dbTime(next), truncateRunes(cause, maxMessageLen), paymentID)
	if err != nil {
		return fmt.Errorf("store: sync of %q failed: %w", paymentID, err)
	}
	return nil
}

// Unschedule takes a payment off the lookup schedule (fully refunded, or
// past the sync window). A payment not on it is left alone.
func (db *DB) Unschedule(ctx context.Context, paymentID string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM payment_syncs WHERE payment_id = ?`, paymentID); err != nil {
		return fmt.Errorf("store: unschedule sync of %q: %w", paymentID, err)
	}
	return nil
}

// SyncOf reads a payment's place on the schedule; ErrNotFound when it is
// not on it.
func (db *DB) SyncOf(ctx context.Context, paymentID string) (*PaymentSync, error) {
	return db.syncOf(ctx, db.sql, paymentID)
}

// SyncOfTx is SyncOf in tx: it sees what tx wrote.
func (db *DB) SyncOfTx(ctx context.Context, tx *sql.Tx, paymentID string) (*PaymentSync, error) {
	return db.syncOf(ctx, tx, paymentID)
}

func (db *DB) syncOf(ctx context.Context, q Querier, paymentID string) (*PaymentSync, error) {
	ss, err := querySyncs(ctx, q, `SELECT `+syncColumns+` FROM payment_syncs WHERE payment_id = ?`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("store: sync of %q: %w", paymentID, err)
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("store: sync of %q: %w", paymentID, ErrNotFound)
	}
	return &ss[0], nil
}

func querySyncs(ctx context.Context, q Querier, query string, args ...any) ([]PaymentSync, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PaymentSync
	for rows.Next() {
		var (
			s             PaymentSync
			next, created time.Time
			synced        sql.NullTime
			failures      int64
			lastError     sql.NullString
		)
		if err := rows.Scan(&s.PaymentID, &next, &synced, &failures, &lastError, &created); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNotFound
			}
			return nil, err
		}
		s.NextAt, s.SyncedAt, s.CreatedAt = next.UTC(), timeOf(synced), created.UTC()
		s.Failures, s.LastError = int(failures), lastError.String
		out = append(out, s)
	}
	return out, rows.Err()
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
