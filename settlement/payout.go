package settlement

import (
	"fmt"
	"time"

	"github.com/paygate/paygate/pg"
)

// PayoutKey names one payment method of one PG.
type PayoutKey struct {
	PG     string
	Method pg.Method
}

// BeyondCalendar says what a PayoutPolicy does with a day its calendar does
// not cover.
type BeyondCalendar int

const (
	// FailBeyondCalendar, the default, fails with ErrBeyondCalendar: the
	// day may be a holiday nobody has told paygate about.
	FailBeyondCalendar BeyondCalendar = iota
	// WeekdaysBeyondCalendar counts every Monday to Friday beyond the
	// coverage as a business day. A payout date computed so can fall on a
	// holiday announced later; the PG's settlement report is then the
	// authority.
	WeekdaysBeyondCalendar
)

// PayoutPolicy says when each PG pays a sale out: D+N business days, D being
// the sale's date in Seoul, counted over Calendar. N is Days unless PG
// overrides it for a PG, and Method for one PG's payment method (e.g. card
// D+2, virtual account D+1). N = 0 pays out on D itself when it is a
// business day, else on the next one. The zero value pays out on D over
// KoreanCalendar and fails beyond its coverage.
type PayoutPolicy struct {
	// Calendar is the business-day calendar; nil means KoreanCalendar().
	Calendar *Calendar
	// Days is N for any PG and method without an override.
	Days int
	// PG overrides Days per PG name.
	PG map[string]int
	// Method overrides PG and Days per (PG, method).
	Method map[PayoutKey]int
	// BeyondCalendar says what to do with a day beyond the calendar's
	// coverage; the default fails.
	BeyondCalendar BeyondCalendar
}

// DaysFor returns N, the business days after the sale that pgName pays a
// sale by method out.
func (p PayoutPolicy) DaysFor(pgName string, method pg.Method) (int, error) {
	n, ok := p.Method[PayoutKey{PG: pgName, Method: method}]
	if !ok {
		n, ok = p.PG[pgName]
	}
	if !ok {
		n = p.Days
	}
	if n < 0 {
		return 0, fmt.Errorf("settlement: payout of %s %s at D+%d: days must not be negative", pgName, method, n)
	}
	return n, nil
}

// PayoutDate returns the business day (midnight in Seoul) on which pgName
// pays out a sale by method made at at. Beyond the calendar's coverage it
// fails with ErrBeyondCalendar unless BeyondCalendar says otherwise.
func (p PayoutPolicy) PayoutDate(pgName string, method pg.Method, at time.Time) (time.Time, error) {
	n, err := p.DaysFor(pgName, method)
	if err != nil {
		return time.Time{}, err
	}
	c := p.Calendar
	if c == nil {
		c = KoreanCalendar()
	}
	d, err := c.addBusinessDays(at, n, p.BeyondCalendar == WeekdaysBeyondCalendar)
	if err != nil {
		return time.Time{}, fmt.Errorf("settlement: payout date of %s %s sold %s: %w", pgName, method, at.In(Seoul).Format(dateLayout), err)
	}
	return d, nil
}

// Sale computes the ledger entry of an approved amount, paid out on the
// date p gives pgName's method for a sale made at at.
func (p PayoutPolicy) Sale(fees FeePolicy, pgName string, method pg.Method, gross pg.Money, at time.Time) (Entry, error) {
	return p.entry(EntrySale, fees, pgName, method, gross, at)
}

// Refund computes the ledger entry of a refunded amount, offset from the
// payout p gives pgName's method on the refund's day.
func (p PayoutPolicy) Refund(fees FeePolicy, pgName string, method pg.Method, amount pg.Money, at time.Time) (Entry, error) {
	return p.entry(EntryRefund, fees, pgName, method, amount, at)
}

func (p PayoutPolicy) entry(typ EntryType, fees FeePolicy, pgName string, method pg.Method, gross pg.Money, at time.Time) (Entry, error) {
	payout, err := p.PayoutDate(pgName, method, at)
	if err != nil {
		return Entry{}, err
	}
	return entryPaidOut(typ, fees, pgName, method, gross, payout)
}
