// Package sagastore stores saga instances and step records, and outbox
// events and deliveries, in a paygate database: one Store implements both
// saga.Store and outbox.Store on a *store.DB, for MySQL/MariaDB and SQLite.
// Its tables come from store's migrations (versions 0200, 0460 and 0500).
//
//	db, _ := store.Open(ctx, "sqlite:./data/paygate.db")
//	_ = db.Migrate(ctx)
//	s := sagastore.New(db)
//	runner := saga.NewRunner(s, saga.RunnerConfig{})
//	ob := outbox.New(s, outbox.Config{})
//
// The two stores are one because they are one schema (the saga_ tables of
// migration 0200, where the outbox began as part of saga) with one set of
// SQL helpers, and a host wires the runner and the outbox from the same
// value; neither package sees the other's tables or types.
//
// Claims use SELECT … FOR UPDATE SKIP LOCKED on MySQL (MariaDB 10.6+), so
// runners and dispatchers in many processes never wait on each other's rows;
// on SQLite the claiming transaction is the only writer while it runs.
package sagastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/saga"
	"github.com/paygate/paygate/store"
)

// Store implements saga.Store and outbox.Store. It is safe for concurrent
// use.
type Store struct {
	db *store.DB
}

var (
	_ saga.Store   = (*Store)(nil)
	_ outbox.Store = (*Store)(nil)
)

// New returns a Store over db, which must be migrated.
func New(db *store.DB) *Store { return &Store{db: db} }

// InTx runs fn in a transaction with store's retry policy (see
// store.DB.InTx).
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.db.InTx(ctx, fn)
}

// InTransaction reports whether ctx is inside one of this store's
// transactions (see store.InTransaction); the saga runner asks before it
// commits a write together with others in a transaction of its own.
func (s *Store) InTransaction(ctx context.Context) bool { return store.InTransaction(ctx) }

func (s *Store) q(tx *sql.Tx) store.Querier {
	if tx != nil {
		return tx
	}
	return s.db.SQL()
}

func (s *Store) mysql() bool { return s.db.Dialect() == store.MySQL }

// forUpdateSkipLocked ends a claiming SELECT: on SQLite the immediate
// transaction already excludes other writers.
func (s *Store) forUpdateSkipLocked() string {
	if s.mysql() {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// dbTime is how times go in: UTC to the microsecond, NULL for zero.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

func fromNull(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// maxText is the width of the reason and last_error columns.
const maxText = 2048

// clip cuts s to the column width on a rune boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// notFound wraps the not-found sentinel of the package whose Store asked.
func notFound(what string, sentinel error) error {
	return fmt.Errorf("sagastore: %s: %w", what, sentinel)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
