package settlement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// Period is the span one report row sums: a business day or a month.
type Period string

const (
	Daily   Period = "daily"
	Monthly Period = "monthly"
)

// Report limits: a daily report spans at most MaxDailyDays days, a monthly
// one at most MaxMonths months.
const (
	MaxDailyDays = 366
	MaxMonths    = 120
)

// ErrInvalidQuery is wrapped by every error that refuses a report or
// reconciliation query: a range out of order or too long, an unknown
// currency.
var ErrInvalidQuery = errors.New("settlement: invalid query")

// ReportQuery selects the ledger a report sums. From and To are business
// days in Seoul, both included; for a monthly report they may be any day of
// the first and the last month. PG and Method, when set, keep only that PG
// and payment method. A report is in one currency: Currency, KRW when
// unset.
type ReportQuery struct {
	Period   Period
	From, To time.Time
	PG       string
	Method   string
	Currency pg.Currency
}

// normalize checks q and returns it with its defaults set and From and To
// at the start of their day (daily) or month (monthly) in Seoul.
func (q ReportQuery) normalize() (ReportQuery, error) {
	if q.Period == "" {
		q.Period = Daily
	}
	if q.Currency == "" {
		q.Currency = pg.KRW
	}
	if !q.Currency.Valid() {
		return q, fmt.Errorf("%w: unknown currency %q", ErrInvalidQuery, q.Currency)
	}
	if q.From.IsZero() || q.To.IsZero() {
		return q, fmt.Errorf("%w: a report needs from and to", ErrInvalidQuery)
	}
	q.From, q.To = dayStart(q.From), dayStart(q.To)
	switch q.Period {
	case Daily:
		if q.To.Before(q.From) {
			return q, fmt.Errorf("%w: to (%s) is before from (%s)", ErrInvalidQuery, q.To.Format(dateLayout), q.From.Format(dateLayout))
		}
		if days := dayCount(q.From, q.To); days > MaxDailyDays {
			return q, fmt.Errorf("%w: %d days; a daily report spans at most %d", ErrInvalidQuery, days, MaxDailyDays)
		}
	case Monthly:
		q.From = q.From.AddDate(0, 0, 1-q.From.Day())
		q.To = q.To.AddDate(0, 0, 1-q.To.Day())
		if q.To.Before(q.From) {
			return q, fmt.Errorf("%w: to (%s) is before from (%s)", ErrInvalidQuery, q.To.Format(monthLayout), q.From.Format(monthLayout))
		}
		if months := monthCount(q.From, q.To); months > MaxMonths {
			return q, fmt.Errorf("%w: %d months; a monthly report spans at most %d", ErrInvalidQuery, months, MaxMonths)
		}
	default:
		return q, fmt.Errorf("%w: unknown period %q", ErrInvalidQuery, q.Period)
	}
	return q, nil
}

// lastDay is the last business day the normalized query covers.
func (q ReportQuery) lastDay() time.Time {
	if q.Period == Monthly {
		return q.To.AddDate(0, 1, -1)
	}
	return q.To
}

// dayCount counts the days from..to, both included (dates in Seoul).
func dayCount(from, to time.Time) int {
	utc := func(t time.Time) time.Time {
		d := dayOf(t)
		return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC)
	}
	return int(utc(to).Sub(utc(from))/(24*time.Hour)) + 1
}

func monthCount(from, to time.Time) int {
	return (to.Year()-from.Year())*12 + int(to.Month()-from.Month()) + 1
}

// monthLayout is how months are written: YYYY-MM.
const monthLayout = "2006-01"

// ReportRow is one line of a settlement report: one PG's payment method on
// one business day (a month, in a monthly report), with the payout date of
// its entries. Amounts are in minor units of Currency (won for KRW). Gross
// and Refunds are the gross sums of sales and of refunds; Fee, VAT and Net
// are signed, sales minus refunds, so a day of more refunds than sales has
// a negative Net (which pg.Money cannot hold; Money turns one into a
// decimal).
//
// A day's entries that the PG pays out on different dates (a change of
// payout policy during the day) are one row per payout date. A monthly row
// sums its month's days and names the last of their payout dates.
type ReportRow struct {
	// Date is YYYY-MM-DD (daily) or YYYY-MM (monthly), in Seoul.
	Date        string
	PG          string
	Method      string
	Currency    pg.Currency
	SalesCount  int64
	RefundCount int64
	Gross       int64
	Refunds     int64
	Fee         int64
	VAT         int64
	Net         int64
	// PayoutDate is YYYY-MM-DD in Seoul.
	PayoutDate string
}

// add sums o into r.
func (r *ReportRow) add(o ReportRow) {
	r.SalesCount += o.SalesCount
	r.RefundCount += o.RefundCount
	r.Gross += o.Gross
	r.Refunds += o.Refunds
	r.Fee += o.Fee
	r.VAT += o.VAT
	r.Net += o.Net
	if o.PayoutDate > r.PayoutDate {
		r.PayoutDate = o.PayoutDate
	}
}

// Payout is what one PG pays out on one date for the report's entries, in
// minor units (negative when refunds exceed sales).
type Payout struct {
	PG       string
	Date     string // YYYY-MM-DD, Seoul
	Currency pg.Currency
	Amount   int64
}

// ReportTotals sums a report's rows. Payouts splits Net by PG and payout
// date, ordered by date, then PG: what each PG pays out on which day for
// the entries of the report (an entry of a day outside the report that the
// PG pays out on the same date is not included).
type ReportTotals struct {
	Currency    pg.Currency
	SalesCount  int64
	RefundCount int64
	Gross       int64
	Refunds     int64
	Fee         int64
	VAT         int64
	Net         int64
	Payouts     []Payout
}

// Money returns minor units of cur as an exact decimal in the currency's
// unit (1234 KRW is 1234; 1234 USD cents is 12.34).
func Money(minor int64, cur pg.Currency) decimal.Decimal {
	units, _ := cur.MinorUnits()
	return decimal.New(minor, -units)
}

// Report sums the ledger for q, row by row, in order of date, PG, method
// and payout date, handing each row to each as it is read (the rows of a
// long range are never all in memory), and returns the totals. An error
// from each stops the report and is returned.
func (l *Ledger) Report(ctx context.Context, q ReportQuery, each func(ReportRow) error) (ReportTotals, error) {
	if l.store == nil {
		return ReportTotals{}, errNoStore
	}
	q, err := q.normalize()
	if err != nil {
		return ReportTotals{}, err
	}
	tot := ReportTotals{Currency: q.Currency}
	payouts := map[[2]string]int64{}
	emit := func(r ReportRow) error {
		tot.SalesCount += r.SalesCount
		tot.RefundCount += r.RefundCount
		tot.Gross += r.Gross
		tot.Refunds += r.Refunds
		tot.Fee += r.Fee
		tot.VAT += r.VAT
		tot.Net += r.Net
		return each(r)
	}
	day := func(r ReportRow) error {
		payouts[[2]string{r.PayoutDate, r.PG}] += r.Net
		return nil
	}

	dq := DayQuery{From: q.From, To: q.lastDay(), PG: q.PG, Method: q.Method, Currency: q.Currency}
	if q.Period == Daily {
		err = l.store.Days(ctx, dq, func(r ReportRow) error {
			_ = day(r)
			return emit(r)
		})
	} else {
		err = l.monthly(ctx, dq, func(r ReportRow) error {
			_ = day(r)
			return nil
		}, emit)
	}
	if err != nil {
		return ReportTotals{}, err
	}
	for k, v := range payouts {
		tot.Payouts = append(tot.Payouts, Payout{PG: k[1], Date: k[0], Currency: q.Currency, Amount: v})
	}
	sort.Slice(tot.Payouts, func(i, j int) bool {
		a, b := tot.Payouts[i], tot.Payouts[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		return a.PG < b.PG
	})
	return tot, nil
}

// monthly rolls the daily rows up into months. The daily rows come in date
// order, so a month is complete when the next one starts; only one month's
// rows (its PGs × methods) are held at a time.
func (l *Ledger) monthly(ctx context.Context, dq DayQuery, day, emit func(ReportRow) error) error {
	type key struct{ pg, method string }
	month := ""
	rows := map[key]*ReportRow{}
	flush := func() error {
		keys := make([]key, 0, len(rows))
		for k := range rows {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].pg != keys[j].pg {
				return keys[i].pg < keys[j].pg
			}
			return keys[i].method < keys[j].method
		})
		for _, k := range keys {
			if err := emit(*rows[k]); err != nil {
				return err
			}
		}
		clear(rows)
		return nil
	}
	err := l.store.Days(ctx, dq, func(r ReportRow) error {
		if err := day(r); err != nil {
			return err
		}
		m := r.Date[:len(monthLayout)]
		if m != month {
			if err := flush(); err != nil {
				return err
			}
			month = m
		}
		k := key{r.PG, r.Method}
		if rows[k] == nil {
			rows[k] = &ReportRow{Date: m, PG: r.PG, Method: r.Method, Currency: r.Currency}
		}
		rows[k].add(r)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// DayQuery is what Store.Days reads: the business days From..To (Seoul,
// both included), in one currency, optionally of one PG and one method.
type DayQuery struct {
	From, To time.Time
	PG       string
	Method   string
	Currency pg.Currency
}
