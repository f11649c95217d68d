package settlement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
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

// Ledger reads and writes the settlement ledger.
type Ledger struct {
	db *store.DB
}

// NewLedger returns the ledger on db (migrated by db.Migrate).
func NewLedger(db *store.DB) *Ledger { return &Ledger{db: db} }

const dateLayout = "2006-01-02"

// Record writes r in tx. It reports false, writing nothing, when an entry
// with r.SourceKey exists: recording the same sale or refund twice has one
// effect.
func (l *Ledger) Record(ctx context.Context, tx *sql.Tx, r *Record) (bool, error) {
	if r.SourceKey == "" || r.PaymentID == "" || r.PG == "" {
		return false, errors.New("settlement: record needs a source key, payment id and PG")
	}
	if r.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return false, fmt.Errorf("settlement: new id: %w", err)
		}
		r.ID = "stl_" + id.String()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	cur := string(r.Gross.Currency())
	for _, m := range []pg.Money{r.Fee, r.VAT, r.Net} {
		if string(m.Currency()) != cur {
			return false, fmt.Errorf("settlement: entry %s mixes currencies", r.SourceKey)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO settlement_entries
		(id, source_key, payment_id, order_id, pg, method, entry_type, currency, gross, fee, vat, net, business_date, payout_date, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.SourceKey, r.PaymentID, r.OrderID, r.PG, r.Method, string(r.Type), cur,
		r.Gross.Int64(), r.Fee.Int64(), r.VAT.Int64(), r.Net.Int64(),
		r.BusinessDate.In(Seoul).Format(dateLayout), r.Payout.In(Seoul).Format(dateLayout), r.CreatedAt.UTC())
	if store.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settlement: record %s: %w", r.SourceKey, err)
	}
	return true, nil
}

// ByPayment lists a payment's entries in the order they were recorded.
func (l *Ledger) ByPayment(ctx context.Context, paymentID string) ([]Record, error) {
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT id, source_key, payment_id, order_id, pg, method, entry_type,
		currency, gross, fee, vat, net, business_date, payout_date, created_at
		FROM settlement_entries WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("settlement: entries of %s: %w", paymentID, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var typ, cur, day, payout string
		var gross, fee, vat, net int64
		if err := rows.Scan(&r.ID, &r.SourceKey, &r.PaymentID, &r.OrderID, &r.PG, &r.Method, &typ,
			&cur, &gross, &fee, &vat, &net, &day, &payout, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("settlement: entries of %s: %w", paymentID, err)
		}
		r.Type = EntryType(typ)
		c := pg.Currency(cur)
		if r.Gross, err = minor(gross, c); err == nil {
			if r.Fee, err = minor(fee, c); err == nil {
				if r.VAT, err = minor(vat, c); err == nil {
					r.Net, err = minor(net, c)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("settlement: entry %s: %w", r.ID, err)
		}
		r.BusinessDate, _ = time.ParseInLocation(dateLayout, day, Seoul)
		r.Payout, _ = time.ParseInLocation(dateLayout, payout, Seoul)
		out = append(out, r)
	}
	return out, rows.Err()
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
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT pg, business_date, currency,
		SUM(CASE WHEN entry_type = 'SALE' THEN gross ELSE 0 END),
		SUM(CASE WHEN entry_type = 'REFUND' THEN gross ELSE 0 END),
		SUM(CASE WHEN entry_type = 'SALE' THEN fee + vat ELSE -(fee + vat) END),
		SUM(CASE WHEN entry_type = 'SALE' THEN net ELSE -net END)
		FROM settlement_entries WHERE business_date >= ? AND business_date <= ?
		GROUP BY pg, business_date, currency ORDER BY pg, business_date, currency`,
		from.In(Seoul).Format(dateLayout), to.In(Seoul).Format(dateLayout))
	if err != nil {
		return nil, fmt.Errorf("settlement: daily totals: %w", err)
	}
	defer rows.Close()
	var out []DayTotal
	for rows.Next() {
		var d DayTotal
		var cur string
		if err := rows.Scan(&d.PG, &d.Day, &cur, &d.Sales, &d.Refunds, &d.Fees, &d.Net); err != nil {
			return nil, fmt.Errorf("settlement: daily totals: %w", err)
		}
		d.Currency = pg.Currency(cur)
		out = append(out, d)
	}
	return out, rows.Err()
}

func minor(v int64, c pg.Currency) (pg.Money, error) {
	units, ok := c.MinorUnits()
	if !ok {
		return pg.Money{}, fmt.Errorf("unknown currency %q", c)
	}
	return pg.NewMoney(decimalFromMinor(v, units), c)
}
