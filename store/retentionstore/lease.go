package retentionstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/store"
)

// Lease is the state of a named job's lease.
type Lease struct {
	Name  string
	Owner string
	Until time.Time
	// DoneAt is when the job last finished (Done); zero if never.
	DoneAt time.Time
}

// Take makes owner the holder of the named lease until until, if nobody
// else holds it at now (their lease ran out, or there was none), or extends
// it if owner holds it already. It reports whether owner holds it now. It
// is a single compare-and-set UPDATE, so of several processes taking the
// same lease at once exactly one wins.
func (s *Store) Take(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if name == "" || owner == "" {
		return false, errors.New("retentionstore: a lease needs a name and an owner")
	}
	var held bool
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n, err := execN(ctx, tx, "UPDATE paygate_leases SET owner = ?, lease_until = ?, updated_at = ? WHERE name = ? AND (owner = ? OR lease_until <= ?)",
			owner, dbTime(until), dbTime(now), name, owner, dbTime(now))
		if err != nil {
			return err
		}
		if held = n == 1; held {
			return nil
		}
		// Held by another, or never taken: a first insert wins, and a
		// unique violation means the row exists and is held. Neither
		// dialect aborts the transaction for it.
		_, err = tx.ExecContext(ctx, "INSERT INTO paygate_leases (name, owner, lease_until, updated_at) VALUES (?, ?, ?, ?)",
			name, owner, dbTime(until), dbTime(now))
		switch {
		case err == nil:
			held = true
		case store.IsUniqueViolation(err):
			err = nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("retentionstore: take lease %q: %w", name, err)
	}
	return held, nil
}

// Release gives the lease up if owner holds it; with done set it also
// records now as when the job last finished.
func (s *Store) Release(ctx context.Context, name, owner string, now time.Time, done bool) error {
	query := "UPDATE paygate_leases SET owner = '', lease_until = ?, updated_at = ? WHERE name = ? AND owner = ?"
	args := []any{dbTime(now), dbTime(now), name, owner}
	if done {
		query = "UPDATE paygate_leases SET owner = '', lease_until = ?, updated_at = ?, done_at = ? WHERE name = ? AND owner = ?"
		args = []any{dbTime(now), dbTime(now), dbTime(now), name, owner}
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("retentionstore: release lease %q: %w", name, err)
	}
	return nil
}

// LeaseOf returns the named lease; a lease never taken is returned with
// only its name.
func (s *Store) LeaseOf(ctx context.Context, name string) (Lease, error) {
	l := Lease{Name: name}
	var until, done sql.NullTime
	err := s.db.SQL().QueryRowContext(ctx, "SELECT owner, lease_until, done_at FROM paygate_leases WHERE name = ?", name).
		Scan(&l.Owner, &until, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("retentionstore: read lease %q: %w", name, err)
	}
	if until.Valid {
		l.Until = until.Time.UTC()
	}
	if done.Valid {
		l.DoneAt = done.Time.UTC()
	}
	return l, nil
}
