package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const cancelColumns = `id, payment_id, idempotency_key, amount, currency, reason, status, pg_transaction_key,
  failure_code, failure_message, canceled_at, created_at, updated_at, version`

func (c *Cancel) args() (int64, error) {
	if err := checkFields(
		check{"cancel id", c.ID, maxIDLen, true},
		check{"payment id", c.PaymentID, maxIDLen, true},
		check{"idempotency key", c.IdempotencyKey, maxNameLen, true},
		check{"reason", c.Reason, maxNameLen, false},
		check{"pg transaction key", c.PGTransactionKey, maxKeyLen, false},
		check{"failure code", c.FailureCode, maxCodeLen, false},
		check{"failure message", c.FailureMessage, maxMessageLen, false},
	); err != nil {
		return 0, err
	}
	if !c.Status.Valid() {
		return 0, fmt.Errorf("%w: unknown cancel status %q", ErrInvalid, c.Status)
	}
	amount, err := minorUnits(c.Amount)
	if err != nil {
		return 0, fmt.Errorf("amount: %w", err)
	}
	if amount == 0 {
		return 0, fmt.Errorf("%w: cancel amount must be positive", ErrInvalid)
	}
	return amount, nil
}

// InsertCancel records a cancel request in tx with Version 1. The
// idempotency key is unique: a second cancel with the same key (or the same
// id) is ErrDuplicate, and the caller reads the first with
// CancelByIdempotencyKey. It sets CreatedAt (when zero) and UpdatedAt.
func (db *DB) InsertCancel(ctx context.Context, tx *sql.Tx, c *Cancel) error {
	amount, err := c.args()
	if err != nil {
		return fmt.Errorf("store: insert cancel %q: %w", c.ID, err)
	}
	now := db.clock()
	created := orNow(c.CreatedAt, now)
	_, err = tx.ExecContext(ctx, `INSERT INTO payment_cancels (`+cancelColumns+`)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PaymentID, c.IdempotencyKey, amount, string(c.Amount.Currency()), c.Reason, string(c.Status),
		nullString(c.PGTransactionKey), c.FailureCode, c.FailureMessage, nullTime(c.CanceledAt), created, now, 1)
	if err != nil {
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: insert cancel %q (key %q): %w: %w", c.ID, c.IdempotencyKey, ErrDuplicate, err)
		}
		return fmt.Errorf("store: insert cancel %q: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt, c.Version = created, now, 1
	return nil
}

// UpdateCancel writes c's status, PG transaction key, PG cancel time and
// failure in tx if the stored version is still expectedVersion, and moves
// the version on by one.
// A version that moved is ErrConflict, a missing cancel ErrNotFound. Payment,
// key, amount and reason never change and are not written.
func (db *DB) UpdateCancel(ctx context.Context, tx *sql.Tx, c *Cancel, expectedVersion int64) error {
	if _, err := c.args(); err != nil {
		return fmt.Errorf("store: update cancel %q: %w", c.ID, err)
	}
	now := db.clock()
	res, err := tx.ExecContext(ctx, `UPDATE payment_cancels SET status = ?, pg_transaction_key = ?, failure_code = ?,
  failure_message = ?, canceled_at = ?, updated_at = ?, version = ?
  WHERE id = ? AND version = ?`,
		string(c.Status), nullString(c.PGTransactionKey), c.FailureCode, c.FailureMessage, nullTime(c.CanceledAt),
		now, expectedVersion+1, c.ID, expectedVersion)
	if err != nil {
		return fmt.Errorf("store: update cancel %q: %w", c.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update cancel %q: %w", c.ID, err)
	}
	if n == 0 {
		var current int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM payment_cancels WHERE id = ?`, c.ID).Scan(&current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: update cancel %q: %w", c.ID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: update cancel %q: %w", c.ID, err)
		}
		return fmt.Errorf("store: update cancel %q: version is %d, expected %d: %w", c.ID, current, expectedVersion, ErrConflict)
	}
	c.Version, c.UpdatedAt = expectedVersion+1, now
	return nil
}

// CancelByID reads a cancel; ErrNotFound when there is none.
func (db *DB) CancelByID(ctx context.Context, id string) (*Cancel, error) {
	return db.cancelByID(ctx, db.sql, id)
}

// CancelByIDTx is CancelByID in tx: it sees what tx wrote.
func (db *DB) CancelByIDTx(ctx context.Context, tx *sql.Tx, id string) (*Cancel, error) {
	return db.cancelByID(ctx, tx, id)
}

func (db *DB) cancelByID(ctx context.Context, q Querier, id string) (*Cancel, error) {
	c, err := scanCancel(q.QueryRowContext(ctx, `SELECT `+cancelColumns+` FROM payment_cancels WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("store: cancel %q: %w", id, err)
	}
	return c, nil
}

// CancelByIdempotencyKey reads the cancel made with key; ErrNotFound when
// there is none.
func (db *DB) CancelByIdempotencyKey(ctx context.Context, key string) (*Cancel, error) {
	return db.cancelByIdempotencyKey(ctx, db.sql, key)
}

// CancelByIdempotencyKeyTx is CancelByIdempotencyKey in tx: it sees what tx wrote.
func (db *DB) CancelByIdempotencyKeyTx(ctx context.Context, tx *sql.Tx, key string) (*Cancel, error) {
	return db.cancelByIdempotencyKey(ctx, tx, key)
}

func (db *DB) cancelByIdempotencyKey(ctx context.Context, q Querier, key string) (*Cancel, error) {
	c, err := scanCancel(q.QueryRowContext(ctx, `SELECT `+cancelColumns+` FROM payment_cancels WHERE idempotency_key = ?`, key))
	if err != nil {
		return nil, fmt.Errorf("store: cancel with key %q: %w", key, err)
	}
	return c, nil
}

// CancelsByPayment lists a payment's cancels, oldest first; empty when there
// is none.
func (db *DB) CancelsByPayment(ctx context.Context, paymentID string) ([]*Cancel, error) {
	return db.cancelsByPayment(ctx, db.sql, paymentID)
}

// CancelsByPaymentTx is CancelsByPayment in tx: it sees what tx wrote.
func (db *DB) CancelsByPaymentTx(ctx context.Context, tx *sql.Tx, paymentID string) ([]*Cancel, error) {
	return db.cancelsByPayment(ctx, tx, paymentID)
}

func (db *DB) cancelsByPayment(ctx context.Context, q Querier, paymentID string) ([]*Cancel, error) {
	cs, err := queryCancels(ctx, q, `SELECT `+cancelColumns+` FROM payment_cancels WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("store: cancels of payment %q: %w", paymentID, err)
	}
	return cs, nil
}

// CancelsByStatus lists up to limit cancels in status whose last write is
// older than olderThan, least recently updated first (cancels left
// REQUESTED or UNKNOWN by a crash or a timeout).
func (db *DB) CancelsByStatus(ctx context.Context, status CancelStatus, olderThan time.Time, limit int) ([]*Cancel, error) {
	return db.cancelsByStatus(ctx, db.sql, status, olderThan, limit)
}

// CancelsByStatusTx is CancelsByStatus in tx: it sees what tx wrote.
func (db *DB) CancelsByStatusTx(ctx context.Context, tx *sql.Tx, status CancelStatus, olderThan time.Time, limit int) ([]*Cancel, error) {
	return db.cancelsByStatus(ctx, tx, status, olderThan, limit)
}

func (db *DB) cancelsByStatus(ctx context.Context, q Querier, status CancelStatus, olderThan time.Time, limit int) ([]*Cancel, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: cancels by status: %w: limit %d must be positive", ErrInvalid, limit)
	}
	cs, err := queryCancels(ctx, q, `SELECT `+cancelColumns+` FROM payment_cancels
  WHERE status = ? AND updated_at < ? ORDER BY updated_at, id LIMIT ?`, string(status), dbTime(olderThan), limit)
	if err != nil {
		return nil, fmt.Errorf("store: cancels %s older than %s: %w", status, olderThan.UTC().Format(time.RFC3339), err)
	}
	return cs, nil
}

func scanCancel(row scanner) (*Cancel, error) {
	var (
		c                Cancel
		amount           int64
		cur, status      string
		txKey            sql.NullString
		canceledAt       sql.NullTime
		created, updated time.Time
	)
	err := row.Scan(&c.ID, &c.PaymentID, &c.IdempotencyKey, &amount, &cur, &c.Reason, &status, &txKey,
		&c.FailureCode, &c.FailureMessage, &canceledAt, &created, &updated, &c.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if c.Amount, err = money(amount, cur); err != nil {
		return nil, err
	}
	c.Status = CancelStatus(status)
	c.PGTransactionKey = txKey.String
	c.CanceledAt = timeOf(canceledAt)
	c.CreatedAt, c.UpdatedAt = created.UTC(), updated.UTC()
	return &c, nil
}

func queryCancels(ctx context.Context, q Querier, query string, args ...any) ([]*Cancel, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []*Cancel
	for rows.Next() {
		c, err := scanCancel(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cs, nil
}
