// Package settlementstore keeps the settlement ledger in a paygate database:
// it implements settlement.Store on *store.DB, for MySQL/MariaDB and SQLite
// alike (the settlement_entries table of store's migration 0300).
//
//	db, _ := store.Open(ctx, "sqlite:./data/paygate.db")
//	_ = db.Migrate(ctx)
//	ledger := settlement.NewLedger(settlementstore.New(db))
//	records, _ := ledger.ByPayment(ctx, paymentID)
package settlementstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// Store is the settlement.Store of a paygate database. Amounts are stored as
// BIGINT minor units next to the currency, dates as YYYY-MM-DD Asia/Seoul
// text. It is safe for concurrent use.
type Store struct {
	db *store.DB
}

var _ settlement.Store = (*Store)(nil)

// New returns the ledger store of db.
func New(db *store.DB) *Store { return &Store{db: db} }

const dateLayout = "2006-01-02"

// InsertTx implements settlement.Store: a second entry with r.SourceKey
// violates the table's unique key and is reported as false, not as an
// error.
func (s *Store) InsertTx(ctx context.Context, tx *sql.Tx, r *settlement.Record) (bool, error) {
	_, err := tx.ExecContext(ctx, insertHead+insertRow, recordArgs(nil, r)...)
	if store.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settlementstore: record %s: %w", r.SourceKey, err)
	}
	return true, nil
}

var _ settlement.BatchStore = (*Store)(nil)

var _ settlement.DeferringStore = (*Store)(nil)

const (
	insertHead = `INSERT INTO settlement_entries
		(id, source_key, payment_id, order_id, pg, method, entry_type, currency, gross, fee, vat, net, business_date, payout_date, created_at)
		VALUES `
	insertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

// recordArgs appends r's column values, in insertRow's order, to args.
func recordArgs(args []any, r *settlement.Record) []any {
	return append(args, r.ID, r.SourceKey, r.PaymentID, r.OrderID, r.PG, r.Method, string(r.Type), string(r.Gross.Currency()),
		r.Gross.Int64(), r.Fee.Int64(), r.VAT.Int64(), r.Net.Int64(),
		r.BusinessDate.In(settlement.Seoul).Format(dateLayout), r.Payout.In(settlement.Seoul).Format(dateLayout), r.CreatedAt.UTC())
}

// DeferInsert implements settlement.DeferringStore: in a context whose
// writes are deferred (store.DB.WithDeferred) rs join the transaction's
// new rows, one INSERT for all the entries its flush writes, and an
// existing source key fails that flush with store.ErrDuplicate.
func (s *Store) DeferInsert(ctx context.Context, rs []*settlement.Record) bool {
	d := store.DeferredFrom(ctx)
	if d == nil {
		return false
	}
	args := make([]any, 0, 15*len(rs))
	for _, r := range rs {
		args = recordArgs(args, r)
	}
	d.Add(insertHead, insertRow, len(rs), args...)
	return true
}

// InsertBatchTx implements settlement.BatchStore: one statement writes the
// entries whose source key is new (an existing key, or one repeated in rs,
// keeps the entry it has), and one read of the keys tells which did.
func (s *Store) InsertBatchTx(ctx context.Context, tx *sql.Tx, rs []*settlement.Record) ([]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 15*len(rs))
	keys := make([]any, len(rs))
	for i, r := range rs {
		args = recordArgs(args, r)
		keys[i] = r.SourceKey
	}
	query := insertHead + strings.TrimSuffix(strings.Repeat(insertRow+", ", len(rs)), ", ")
	if s.db.Dialect() == store.MySQL {
		query += ` ON DUPLICATE KEY UPDATE source_key = source_key`
	} else {
		query += ` ON CONFLICT (source_key) DO NOTHING`
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return nil, fmt.Errorf("settlementstore: record %d entries: %w", len(rs), err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT source_key, id FROM settlement_entries WHERE source_key IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(rs)), ", ")+`)`, keys...)
	if err != nil {
		return nil, fmt.Errorf("settlementstore: record %d entries: %w", len(rs), err)
	}
	defer rows.Close()
	stored := make(map[string]string, len(rs))
	for rows.Next() {
		var key, id string
		if err := rows.Scan(&key, &id); err != nil {
			return nil, fmt.Errorf("settlementstore: record %d entries: %w", len(rs), err)
		}
		stored[key] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settlementstore: record %d entries: %w", len(rs), err)
	}
	inserted := make([]bool, len(rs))
	for i, r := range rs {
		inserted[i] = stored[r.SourceKey] == r.ID
	}
	return inserted, nil
}

// ByPayment implements settlement.Store.
func (s *Store) ByPayment(ctx context.Context, paymentID string) ([]settlement.Record, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+recordColumns+`
		FROM settlement_entries WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("settlementstore: entries of %s: %w", paymentID, err)
	}
	defer rows.Close()
	var out []settlement.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("settlementstore: entries of %s: %w", paymentID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// recordColumns are the columns scanRecord reads, in order.
const recordColumns = `id, source_key, payment_id, order_id, pg, method, entry_type,
		currency, gross, fee, vat, net, business_date, payout_date, created_at`

func scanRecord(rows *sql.Rows) (settlement.Record, error) {
	var r settlement.Record
	var typ, cur, day, payout string
	var gross, fee, vat, net int64
	if err := rows.Scan(&r.ID, &r.SourceKey, &r.PaymentID, &r.OrderID, &r.PG, &r.Method, &typ,
		&cur, &gross, &fee, &vat, &net, &day, &payout, &r.CreatedAt); err != nil {
		return r, err
	}
	r.Type = settlement.EntryType(typ)
	c := pg.Currency(cur)
	var err error
	if r.Gross, err = minor(gross, c); err == nil {
		if r.Fee, err = minor(fee, c); err == nil {
			if r.VAT, err = minor(vat, c); err == nil {
				r.Net, err = minor(net, c)
			}
		}
	}
	if err != nil {
		return r, fmt.Errorf("entry %s: %w", r.ID, err)
	}
	r.BusinessDate, _ = time.ParseInLocation(dateLayout, day, settlement.Seoul)
	r.Payout, _ = time.ParseInLocation(dateLayout, payout, settlement.Seoul)
	return r, nil
}

// Entries implements settlement.Store, through the (pg, business_date)
// index of migration 0300.
func (s *Store) Entries(ctx context.Context, q settlement.EntryQuery, each func(settlement.Record) error) error {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+recordColumns+`
		FROM settlement_entries WHERE pg = ? AND business_date >= ? AND business_date <= ?
		ORDER BY business_date, id`, q.PG,
		q.From.In(settlement.Seoul).Format(dateLayout), q.To.In(settlement.Seoul).Format(dateLayout))
	if err != nil {
		return fmt.Errorf("settlementstore: entries of %s: %w", q.PG, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return fmt.Errorf("settlementstore: entries of %s: %w", q.PG, err)
		}
		if err := each(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("settlementstore: entries of %s: %w", q.PG, err)
	}
	return nil
}

// Daily implements settlement.Store: sales and refunds are the gross sums
// of each entry type, Fees the fee and VAT of sales minus those of refunds,
// Net the signed sum of nets.
func (s *Store) Daily(ctx context.Context, from, to time.Time) ([]settlement.DayTotal, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT pg, business_date, currency,
		SUM(CASE WHEN entry_type = 'SALE' THEN gross ELSE 0 END),
		SUM(CASE WHEN entry_type = 'REFUND' THEN gross ELSE 0 END),
		SUM(CASE WHEN entry_type = 'SALE' THEN fee + vat ELSE -(fee + vat) END),
		SUM(CASE WHEN entry_type = 'SALE' THEN net ELSE -net END)
		FROM settlement_entries WHERE business_date >= ? AND business_date <= ?
		GROUP BY pg, business_date, currency ORDER BY pg, business_date, currency`,
		from.In(settlement.Seoul).Format(dateLayout), to.In(settlement.Seoul).Format(dateLayout))
	if err != nil {
		return nil, fmt.Errorf("settlementstore: daily totals: %w", err)
	}
	defer rows.Close()
	var out []settlement.DayTotal
	for rows.Next() {
		var d settlement.DayTotal
		var cur string
		if err := rows.Scan(&d.PG, &d.Day, &cur, &d.Sales, &d.Refunds, &d.Fees, &d.Net); err != nil {
			return nil, fmt.Errorf("settlementstore: daily totals: %w", err)
		}
		d.Currency = pg.Currency(cur)
		out = append(out, d)
	}
	return out, rows.Err()
}

// minor turns a stored amount in minor units of c back into money.
func minor(v int64, c pg.Currency) (pg.Money, error) {
	units, ok := c.MinorUnits()
	if !ok {
		return pg.Money{}, fmt.Errorf("unknown currency %q", c)
	}
	return pg.NewMoney(decimal.New(v, -units), c)
}

// daysSQL is the daily report: it reads ix_settlement_entries_report (migration
// 0480) alone, whose leading columns are the GROUP BY and ORDER BY below, so
// the server scans the range of days in the index, already grouped and
// sorted, and sums the amounts it carries. Sales and refunds are grouped
// apart (plain sums are cheaper per entry than conditional ones) and put
// together into one row by Days.
const daysSQL = `SELECT business_date, pg, method, currency, payout_date, entry_type,
	COUNT(*), SUM(gross), SUM(fee), SUM(vat), SUM(net)
	FROM settlement_entries %s
	WHERE business_date >= ? AND business_date <= ?%s
	GROUP BY business_date, pg, method, currency, payout_date, entry_type
	ORDER BY business_date, pg, method, currency, payout_date, entry_type`

// DaysQuery returns the SQL and arguments Days runs for q, for EXPLAIN.
//
// The plan it asks for reads ix_settlement_entries_report alone, in its
// order: the index is named (MySQL might otherwise prefer the narrower
// (pg, business_date) index, which does not carry the amounts), and the
// equality filters are written so that neither server takes the filtered
// column for a constant of another collation and sorts the groups again
// (MariaDB compares a utf8mb4_bin column with a literal in the connection's
// collation that way; SQLite's planner does the same with an indexed
// equality after the range).
func (s *Store) DaysQuery(q settlement.DayQuery) (string, []any) {
	cur := q.Currency
	if cur == "" {
		cur = pg.KRW
	}
	hint, eq := "INDEXED BY ix_settlement_entries_report", func(col string) string { return " AND +" + col + " = ?" }
	if s.db.Dialect() == store.MySQL {
		hint = "FORCE INDEX (ix_settlement_entries_report)"
		eq = func(col string) string { return " AND " + col + " = CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin" }
	}
	args := []any{q.From.In(settlement.Seoul).Format(dateLayout), q.To.In(settlement.Seoul).Format(dateLayout), string(cur)}
	filter := eq("currency")
	if q.PG != "" {
		filter += eq("pg")
		args = append(args, q.PG)
	}
	if q.Method != "" {
		filter += eq("method")
		args = append(args, q.Method)
	}
	return fmt.Sprintf(daysSQL, hint, filter), args
}

// splitDays is the shortest range Days reads in two halves at once on
// MySQL.
const splitDays = 32

// Days implements settlement.Store. On MySQL a range of splitDays or more is
// read as two halves at once, on two connections: the server sums one
// query on one core, and the halves' index ranges do not overlap. The
// first half's rows are handed on as they are read; the second's (at most
// days × PGs × methods aggregated rows) wait in memory until then.
func (s *Store) Days(ctx context.Context, q settlement.DayQuery, each func(settlement.ReportRow) error) error {
	from, to := q.From.In(settlement.Seoul), q.To.In(settlement.Seoul)
	fromDay := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	toDay := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	days := int(toDay.Sub(fromDay)/(24*time.Hour)) + 1
	if s.db.Dialect() != store.MySQL || days < splitDays {
		return s.days(ctx, q, each)
	}
	first, second := q, q
	first.To = q.From.AddDate(0, 0, days/2-1)
	second.From = q.From.AddDate(0, 0, days/2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var later []settlement.ReportRow
	done := make(chan error, 1)
	go func() {
		done <- s.days(ctx, second, func(r settlement.ReportRow) error {
			later = append(later, r)
			return nil
		})
	}()
	err := s.days(ctx, first, each)
	if err != nil {
		cancel()
	}
	if err2 := <-done; err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	for _, r := range later {
		if err := each(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) days(ctx context.Context, q settlement.DayQuery, each func(settlement.ReportRow) error) error {
	query, args := s.DaysQuery(q)
	rows, err := s.db.SQL().QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("settlementstore: report: %w", err)
	}
	defer rows.Close()
	var cur settlement.ReportRow
	have := false
	for rows.Next() {
		var r settlement.ReportRow
		var currency, typ string
		var count, gross, fee, vat, net int64
		if err := rows.Scan(&r.Date, &r.PG, &r.Method, &currency, &r.PayoutDate, &typ,
			&count, &gross, &fee, &vat, &net); err != nil {
			return fmt.Errorf("settlementstore: report: %w", err)
		}
		r.Currency = pg.Currency(currency)
		if have && (r.Date != cur.Date || r.PG != cur.PG || r.Method != cur.Method || r.Currency != cur.Currency || r.PayoutDate != cur.PayoutDate) {
			if err := each(cur); err != nil {
				return err
			}
			have = false
		}
		if !have {
			cur, have = r, true
		}
		switch settlement.EntryType(typ) {
		case settlement.EntrySale:
			cur.SalesCount += count
			cur.Gross += gross
			cur.Fee += fee
			cur.VAT += vat
			cur.Net += net
		case settlement.EntryRefund:
			cur.RefundCount += count
			cur.Refunds += gross
			cur.Fee -= fee
			cur.VAT -= vat
			cur.Net -= net
		default:
			return fmt.Errorf("settlementstore: report: entry type %q", typ)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("settlementstore: report: %w", err)
	}
	if have {
		return each(cur)
	}
	return nil
}
