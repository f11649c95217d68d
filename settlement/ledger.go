package settlement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/paygate/paygate/pg"
)

// Record is one stored ledger line.
type Record struct {
	ID string
	// SourceKey makes recording idempotent: "sale:<payment id>" or
	// "refund:<cancel id>".
	SourceKey string
	PaymentID string
	OrderID   string
	PG        string
	Method    string
	Entry
	// BusinessDate is the Asia/Seoul day of the sale or refund.
	BusinessDate time.Time
	CreatedAt    time.Time
}

// Store keeps the ledger's records: the SQL behind a Ledger.
// store/settlementstore implements it on a paygate database (MySQL/MariaDB
// and SQLite, the table of store's migration 0300).
type Store interface {
	// InsertTx writes r, complete (ID, CreatedAt set, amounts in one
	// currency), in tx. It reports false, writing nothing, when an entry
	// with r.SourceKey exists.
	InsertTx(ctx context.Context, tx *sql.Tx, r *Record) (bool, error)
	// ByPayment lists a payment's entries in the order they were recorded
	// (created_at, then id).
	ByPayment(ctx context.Context, paymentID string) ([]Record, error)
	// Daily sums the entries per PG, business day and currency for the
	// Asia/Seoul days from..to (inclusive), ordered by PG, day, currency.
	Daily(ctx context.Context, from, to time.Time) ([]DayTotal, error)
	// Days sums the entries of q per business day, PG, method, currency
	// and payout date into rows (Date YYYY-MM-DD), handed to each in that
	// order as they are read; an error from each stops the read and is
	// returned. Sums are exact, in minor units.
	Days(ctx context.Context, q DayQuery, each func(ReportRow) error) error
	// Entries hands each the entries of q.PG whose business days are
	// q.From..q.To (Seoul, both included), in order of day and id, as they
	// are read; an error from each stops the read and is returned.
	Entries(ctx context.Context, q EntryQuery, each func(Record) error) error
}

// EntryQuery selects one PG's entries of a range of business days.
type EntryQuery struct {
	PG       string
	From, To time.Time
}

// BatchStore is a Store that writes many entries at once. Ledger.RecordBatch
// uses it when its Store has it.
type BatchStore interface {
	// InsertBatchTx is InsertTx for each of rs, in one go: inserted[i]
	// reports whether rs[i] was written (false when its SourceKey
	// existed, or came earlier in rs).
	InsertBatchTx(ctx context.Context, tx *sql.Tx, rs []*Record) (inserted []bool, err error)
}

// DeferringStore is a Store that can put new entries off to the end of the
// caller's transaction, where a group commit writes each table's new rows in
// one statement (see store.Deferred). Ledger.RecordNew uses it when its
// Store has it.
type DeferringStore interface {
	// DeferInsert adds rs, complete, to the writes ctx's transaction puts
	// off to its end and reports true, or reports false, doing nothing,
	// when ctx's writes run at once. A deferred entry whose SourceKey
	// exists fails the transaction's flush (a duplicate), never silently.
	DeferInsert(ctx context.Context, rs []*Record) bool
}

// Ledger reads and writes the settlement ledger.
type Ledger struct {
	store Store
}

// NewLedger returns the ledger kept in s, e.g.
// settlement.NewLedger(settlementstore.New(db)).
func NewLedger(s Store) *Ledger { return &Ledger{store: s} }

var errNoStore = errors.New("settlement: the ledger has no store")

// Record writes r in tx. It reports false, writing nothing, when an entry
// with r.SourceKey exists: recording the same sale or refund twice has one
// effect.
func (l *Ledger) Record(ctx context.Context, tx *sql.Tx, r *Record) (bool, error) {
	if l.store == nil {
		return false, errNoStore
	}
	if err := r.Complete(); err != nil {
		return false, err
	}
	return l.store.InsertTx(ctx, tx, r)
}

// RecordBatch is Record for each of rs, in one statement when the store is
// a BatchStore: inserted[i] reports whether rs[i] was written. A record
// that is not valid fails the whole batch, before anything is written.
func (l *Ledger) RecordBatch(ctx context.Context, tx *sql.Tx, rs []*Record) ([]bool, error) {
	if l.store == nil {
		return nil, errNoStore
	}
	for _, r := range rs {
		if err := r.Complete(); err != nil {
			return nil, err
		}
	}
	if bs, ok := l.store.(BatchStore); ok && len(rs) > 1 {
		return bs.InsertBatchTx(ctx, tx, rs)
	}
	inserted := make([]bool, len(rs))
	for i, r := range rs {
		ok, err := l.store.InsertTx(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		inserted[i] = ok
	}
	return inserted, nil
}

// RecordNew is RecordBatch for entries whose source keys the caller
// expects to be new, written in a transaction whose writes may be deferred
// to its end (a group commit): when they are and the Store is a
// DeferringStore, the entries join the deferred writes and all are
// reported inserted — an entry whose SourceKey exists after all fails the
// transaction's flush instead, so the caller rolls back and records again
// with writes that run at once, where RecordBatch tells it apart. Otherwise
// it is RecordBatch.
func (l *Ledger) RecordNew(ctx context.Context, tx *sql.Tx, rs []*Record) ([]bool, error) {
	if l.store == nil {
		return nil, errNoStore
	}
	ds, ok := l.store.(DeferringStore)
	if !ok {
		return l.RecordBatch(ctx, tx, rs)
	}
	for _, r := range rs {
		if err := r.Complete(); err != nil {
			return nil, err
		}
	}
	if !ds.DeferInsert(ctx, rs) {
		return l.RecordBatch(ctx, tx, rs)
	}
	inserted := make([]bool, len(rs))
	for i := range inserted {
		inserted[i] = true
	}
	return inserted, nil
}

// Complete checks r (a source key, payment id and PG; amounts in one
// currency) and sets its ID and CreatedAt when they are zero. Ledger checks
// every record it writes; a caller that must not fail on a bad record (a
// write that carries more than the entry) checks first.
func (r *Record) Complete() error {
	if r.SourceKey == "" || r.PaymentID == "" || r.PG == "" {
		return errors.New("settlement: record needs a source key, payment id and PG")
	}
	if r.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("settlement: new id: %w", err)
		}
		r.ID = "stl_" + id.String()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	cur := r.Gross.Currency()
	for _, m := range []pg.Money{r.Fee, r.VAT, r.Net} {
		if m.Currency() != cur {
			return fmt.Errorf("settlement: entry %s mixes currencies", r.SourceKey)
		}
	}
	return nil
}

// ByPayment lists a payment's entries in the order they were recorded.
func (l *Ledger) ByPayment(ctx context.Context, paymentID string) ([]Record, error) {
	if l.store == nil {
		return nil, errNoStore
	}
	return l.store.ByPayment(ctx, paymentID)
}

// Entries hands each the entries of q.PG for the business days
// q.From..q.To (Seoul, both included), as they are read.
func (l *Ledger) Entries(ctx context.Context, q EntryQuery, each func(Record) error) error {
	if l.store == nil {
		return errNoStore
	}
	if q.PG == "" || q.From.IsZero() || q.To.IsZero() {
		return fmt.Errorf("%w: entries need a PG, from and to", ErrInvalidQuery)
	}
	return l.store.Entries(ctx, q, each)
}

// DayTotal is one PG's ledger for one business day, signed: sales minus
// refunds.
type DayTotal struct {
	PG       string
	Day      string // YYYY-MM-DD, Asia/Seoul
	Currency pg.Currency
	Sales    int64 // minor units
	Refunds  int64
	Fees     int64 // fee + VAT of sales minus those of refunds
	Net      int64
}

// Daily sums the ledger per PG, day and currency for the days from..to
// (inclusive, Asia/Seoul dates).
func (l *Ledger) Daily(ctx context.Context, from, to time.Time) ([]DayTotal, error) {
	if l.store == nil {
		return nil, errNoStore
	}
	return l.store.Daily(ctx, from, to)
}
