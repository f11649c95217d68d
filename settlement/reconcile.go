package settlement

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/paygate/paygate/pg"
)

// DayReconciliation compares one PG's business day in the ledger with the
// same day in the PG's own transaction records. Amounts are minor units.
type DayReconciliation struct {
	PG       string
	Day      string // YYYY-MM-DD, Asia/Seoul
	Currency pg.Currency
	// LedgerSales and LedgerRefunds are the ledger's gross sums.
	LedgerSales, LedgerRefunds int64
	// PGSales and PGRefunds are the PG's approvals and cancels.
	PGSales, PGRefunds int64
}

// Matches reports whether the ledger's net equals the PG's net for the day.
func (d DayReconciliation) Matches() bool {
	return d.LedgerSales-d.LedgerRefunds == d.PGSales-d.PGRefunds
}

// Reconcile checks invariant 3, "ledger = PG": for every Asia/Seoul business
// day from from to to, the ledger's gross sales minus refunds for pgName
// must equal the PG's approvals minus cancels in its own records, fetched
// through reporter (pg.TransactionReporter, e.g. Toss's
// GET /v1/transactions). It returns one line per day and currency that
// either side has; a line whose Matches is false needs an operator.
//
// The ledger dates a sale by the PG's approval time and a refund by the
// PG's cancel time (paygate records both from the PG's answers), so a
// cancel the PG applied seconds before midnight lands on the PG's day even
// when paygate learned of it after midnight. A refund whose PG gave no
// time is dated by when paygate recorded it and can show as a difference
// on two adjacent days that nets to zero; read adjacent days together
// before acting.
func (l *Ledger) Reconcile(ctx context.Context, pgName string, reporter pg.TransactionReporter, from, to time.Time) ([]DayReconciliation, error) {
	if reporter == nil {
		return nil, fmt.Errorf("settlement: reconcile %s: the PG offers no transaction records", pgName)
	}
	start := dayStart(from)
	end := dayStart(to).AddDate(0, 0, 1)
	type key struct {
		day string
		cur pg.Currency
	}
	lines := map[key]*DayReconciliation{}
	line := func(day string, cur pg.Currency) *DayReconciliation {
		k := key{day, cur}
		if lines[k] == nil {
			lines[k] = &DayReconciliation{PG: pgName, Day: day, Currency: cur}
		}
		return lines[k]
	}

	totals, err := l.Daily(ctx, start, end.Add(-time.Nanosecond))
	if err != nil {
		return nil, err
	}
	for _, t := range totals {
		if t.PG != pgName {
			continue
		}
		d := line(t.Day, t.Currency)
		d.LedgerSales += t.Sales
		d.LedgerRefunds += t.Refunds
	}

	txs, err := reporter.Transactions(ctx, pg.ReportQuery{From: start, To: end.Add(-time.Second)})
	if err != nil {
		return nil, fmt.Errorf("settlement: reconcile %s: %w", pgName, err)
	}
	for _, tx := range txs {
		if !tx.Amount.IsSet() || tx.At.Before(start) || !tx.At.Before(end) {
			continue
		}
		d := line(tx.At.In(Seoul).Format(dateLayout), tx.Amount.Currency())
		switch {
		case tx.Cancel:
			d.PGRefunds += tx.Amount.Int64()
		case tx.Status.Captured() || tx.Status == pg.StatusCanceled:
			d.PGSales += tx.Amount.Int64()
		}
	}

	out := make([]DayReconciliation, 0, len(lines))
	for _, d := range lines {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}

func dayStart(t time.Time) time.Time {
	s := t.In(Seoul)
	return time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, Seoul)
}
