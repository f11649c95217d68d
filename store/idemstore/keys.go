// Package idemstore keeps Idempotency-Keys in a paygate database: it
// implements idempotency.Store on *store.DB, for MySQL/MariaDB and SQLite
// alike (the idempotency_keys table of store's migration 0100). The webhook
// delivery log is store/webhookstore's.
//
//	db, _ := store.Open(ctx, "sqlite:./data/paygate.db")
//	_ = db.Migrate(ctx)
//	keys, _ := idempotency.New(idempotency.Config{Store: idemstore.NewKeys(db)})
package idemstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
)

// Keys is the idempotency.Store of a paygate database. Single-row writes run
// as one autocommit statement on MySQL (one round trip) and as a short
// transaction through InTx on SQLite (so they queue behind the one writer);
// both retry transient errors. It is safe for concurrent use.
type Keys struct {
	db *store.DB
}

var _ idempotency.Store = (*Keys)(nil)

// NewKeys returns the key store of db.
func NewKeys(db *store.DB) *Keys { return &Keys{db: db} }

// Retry of single statements on MySQL: few, short, jittered.
const (
	execAttempts = 5
	execBackoff  = 5 * time.Millisecond
)

// dbTime is how times go into the database: UTC to the microsecond, like
// every other paygate table, so both dialects compare the same instants.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// exec runs one writing statement and returns the rows it affected (matched,
// on MySQL: the store opens it with clientFoundRows).
func exec(ctx context.Context, db *store.DB, query string, args ...any) (int64, error) {
	if db.Dialect() == store.SQLite {
		var n int64
		err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		return n, err
	}
	var n int64
	err := retrying(ctx, func() error {
		res, err := db.SQL().ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// retrying runs one statement outside a transaction (fn), again after a
// transient failure (store.IsRetryable: a killed query or connection, a
// deadlock), at most execAttempts times. A write's statement is safe to
// run again: its callers tell a first run that landed unseen from another
// request's by the token in the row.
func retrying(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !store.IsRetryable(err) || attempt == execAttempts {
			return err
		}
		t := time.NewTimer(rand.N(execBackoff<<attempt) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

const keyColumns = `scope, idem_key, fingerprint, state, token, lease_until, expires_at, created_at,
  completed_at, resp_status, resp_header, resp_body`

// Insert implements idempotency.Store.
func (k *Keys) Insert(ctx context.Context, rec idempotency.Record) error {
	_, err := exec(ctx, k.db, `INSERT INTO idempotency_keys (`+keyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL)`,
		rec.Scope, rec.Key, rec.Fingerprint, string(idempotency.StateInFlight), rec.Token,
		dbTime(rec.LeaseUntil), dbTime(rec.ExpiresAt), dbTime(rec.CreatedAt))
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("idemstore: insert key %q: %w", rec.Key, idempotency.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("idemstore: insert key %q: %w", rec.Key, err)
	}
	return nil
}

// Get implements idempotency.Store.
func (k *Keys) Get(ctx context.Context, scope, key string) (idempotency.Record, error) {
	var (
		rec       idempotency.Record
		state     string
		completed sql.NullTime
		header    sql.NullString
		body      []byte
	)
	// A read that met a killed connection is read again: answering the
	// request "store unavailable" would be a failure the buyer sees.
	err := retrying(ctx, func() error {
		return k.db.SQL().QueryRowContext(ctx, `SELECT `+keyColumns+`
FROM idempotency_keys WHERE scope = ? AND idem_key = ?`, scope, key).Scan(&rec.Scope, &rec.Key, &rec.Fingerprint, &state,
			&rec.Token, &rec.LeaseUntil, &rec.ExpiresAt, &rec.CreatedAt, &completed, &rec.Response.Status, &header, &body)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return idempotency.Record{}, fmt.Errorf("idemstore: key %q: %w", key, idempotency.ErrNotFound)
	}
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("idemstore: read key %q: %w", key, err)
	}
	rec.State = idempotency.State(state)
	if completed.Valid {
		rec.CompletedAt = completed.Time
	}
	if header.Valid && header.String != "" {
		if err := json.Unmarshal([]byte(header.String), &rec.Response.Header); err != nil {
			return idempotency.Record{}, fmt.Errorf("idemstore: key %q: stored headers: %w", key, err)
		}
	}
	if rec.State == idempotency.StateCompleted && body == nil {
		body = []byte{}
	}
	rec.Response.Body = body
	return rec, nil
}

// TakeOver implements idempotency.Store.
func (k *Keys) TakeOver(ctx context.Context, prevToken string, now time.Time, rec idempotency.Record) (bool, error) {
	n, err := exec(ctx, k.db, `UPDATE idempotency_keys
SET fingerprint = ?, state = ?, token = ?, lease_until = ?, expires_at = ?, created_at = ?,
    completed_at = NULL, resp_status = 0, resp_header = NULL, resp_body = NULL
WHERE scope = ? AND idem_key = ? AND token = ?
  AND ((state = 'in_flight' AND lease_until <= ?) OR (state = 'completed' AND expires_at <= ?))`,
		rec.Fingerprint, string(idempotency.StateInFlight), rec.Token,
		dbTime(rec.LeaseUntil), dbTime(rec.ExpiresAt), dbTime(rec.CreatedAt),
		rec.Scope, rec.Key, prevToken, dbTime(now), dbTime(now))
	if err != nil {
		return false, fmt.Errorf("idemstore: take over key %q: %w", rec.Key, err)
	}
	return n == 1, nil
}

// Extend implements idempotency.Store.
func (k *Keys) Extend(ctx context.Context, scope, key, token string, leaseUntil time.Time) (bool, error) {
	n, err := exec(ctx, k.db, `UPDATE idempotency_keys SET lease_until = ?
WHERE scope = ? AND idem_key = ? AND token = ? AND state = 'in_flight'`,
		dbTime(leaseUntil), scope, key, token)
	if err != nil {
		return false, fmt.Errorf("idemstore: extend lease of key %q: %w", key, err)
	}
	return n == 1, nil
}

const completeSQL = `UPDATE idempotency_keys
SET state = 'completed', completed_at = ?, expires_at = ?, resp_status = ?, resp_header = ?, resp_body = ?
WHERE scope = ? AND idem_key = ? AND token = ? AND state = 'in_flight'`

func completeArgs(c idempotency.Completion) ([]any, error) {
	var header any
	if len(c.Response.Header) > 0 {
		b, err := json.Marshal(c.Response.Header)
		if err != nil {
			return nil, err
		}
		header = string(b)
	}
	body := c.Response.Body
	if body == nil {
		body = []byte{}
	}
	return []any{dbTime(c.CompletedAt), dbTime(c.ExpiresAt), c.Response.Status, header, body,
		c.Scope, c.Key, c.Token}, nil
}

// Complete implements idempotency.Store.
func (k *Keys) Complete(ctx context.Context, c idempotency.Completion) (bool, error) {
	args, err := completeArgs(c)
	if err != nil {
		return false, fmt.Errorf("idemstore: complete key %q: %w", c.Key, err)
	}
	n, err := exec(ctx, k.db, completeSQL, args...)
	if err != nil {
		return false, fmt.Errorf("idemstore: complete key %q: %w", c.Key, err)
	}
	return n == 1, nil
}

// CompleteTx implements idempotency.Store.
func (k *Keys) CompleteTx(ctx context.Context, tx *sql.Tx, c idempotency.Completion) (bool, error) {
	args, err := completeArgs(c)
	if err != nil {
		return false, fmt.Errorf("idemstore: complete key %q: %w", c.Key, err)
	}
	res, err := tx.ExecContext(ctx, completeSQL, args...)
	if err != nil {
		return false, fmt.Errorf("idemstore: complete key %q: %w", c.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("idemstore: complete key %q: %w", c.Key, err)
	}
	return n == 1, nil
}

// Release implements idempotency.Store.
func (k *Keys) Release(ctx context.Context, scope, key, token string) (bool, error) {
	n, err := exec(ctx, k.db, `DELETE FROM idempotency_keys
WHERE scope = ? AND idem_key = ? AND token = ? AND state = 'in_flight'`, scope, key, token)
	if err != nil {
		return false, fmt.Errorf("idemstore: release key %q: %w", key, err)
	}
	return n == 1, nil
}

// DeleteExpired implements idempotency.Store. Each call is one statement (a
// short transaction on SQLite) deleting at most limit rows in expiry order.
func (k *Keys) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	const where = `expires_at <= ? AND (state = 'completed' OR lease_until <= ?)`
	query := `DELETE FROM idempotency_keys WHERE ` + where + ` ORDER BY expires_at LIMIT ?`
	if k.db.Dialect() == store.SQLite {
		query = `DELETE FROM idempotency_keys WHERE rowid IN (
  SELECT rowid FROM idempotency_keys WHERE ` + where + ` ORDER BY expires_at LIMIT ?)`
	}
	n, err := exec(ctx, k.db, query, dbTime(now), dbTime(now), limit)
	if err != nil {
		return 0, fmt.Errorf("idemstore: delete expired keys: %w", err)
	}
	return int(n), nil
}

// CountExpired counts the keys DeleteExpired(ctx, now, …) would delete: a
// dry run of retention.
func (k *Keys) CountExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := k.db.SQL().QueryRowContext(ctx,
		`SELECT COUNT(*) FROM idempotency_keys WHERE expires_at <= ? AND (state = 'completed' OR lease_until <= ?)`,
		dbTime(now), dbTime(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("idemstore: count expired keys: %w", err)
	}
	return n, nil
}

// headerOf decodes a stored header column.
func headerOf(s string) (http.Header, error) {
	var h http.Header
	if s == "" {
		return http.Header{}, nil
	}
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, err
	}
	return h, nil
}
