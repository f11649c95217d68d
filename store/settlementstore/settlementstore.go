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
	_, err := tx.ExecContext(ctx, `INSERT INTO settlement_entries
		(id, source_key, payment_id, order_id, pg, method, entry_type, currency, gross, fee, vat, net, business_date, payout_date, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.SourceKey, r.PaymentID, r.OrderID, r.PG, r.Method, string(r.Type), string(r.Gross.Currency()),
		r.Gross.Int64(), r.Fee.Int64(), r.VAT.Int64(), r.Net.Int64(),
		r.BusinessDate.In(settlement.Seoul).Format(dateLayout), r.Payout.In(settlement.Seoul).Format(dateLayout), r.CreatedAt.UTC())
	if store.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settlementstore: record %s: %w", r.SourceKey, err)
	}
	return true, nil
}

// ByPayment implements settlement.Store.
func (s *Store) ByPayment(ctx context.Context, paymentID string) ([]settlement.Record, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, source_key, payment_id, order_id, pg, method, entry_type,
		currency, gross, fee, vat, net, business_date, payout_date, created_at
		FROM settlement_entries WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("settlementstore: entries of %s: %w", paymentID, err)
	}
	defer rows.Close()
	var out []settlement.Record
	for rows.Next() {
		var r settlement.Record
		var typ, cur, day, payout string
		var gross, fee, vat, net int64
		if err := rows.Scan(&r.ID, &r.SourceKey, &r.PaymentID, &r.OrderID, &r.PG, &r.Method, &typ,
			&cur, &gross, &fee, &vat, &net, &day, &payout, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("settlementstore: entries of %s: %w", paymentID, err)
		}
		r.Type = settlement.EntryType(typ)
		c := pg.Currency(cur)
		if r.Gross, err = minor(gross, c); err == nil {
			if r.Fee, err = minor(fee, c); err == nil {
				if r.VAT, err = minor(vat, c); err == nil {
					r.Net, err = minor(net, c)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("settlementstore: entry %s: %w", r.ID, err)
		}
		r.BusinessDate, _ = time.ParseInLocation(dateLayout, day, settlement.Seoul)
		r.Payout, _ = time.ParseInLocation(dateLayout, payout, settlement.Seoul)
		out = append(out, r)
	}
	return out, rows.Err()
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
