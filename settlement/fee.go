// Package settlement turns payments into settlement ledger entries: the fee
// a PG keeps, the VAT on that fee, the net payout and the payout date.
//
//	policy := settlement.RateFee{Rate: decimal.RequireFromString("0.032")}
//	entry, err := settlement.Sale(policy, "tosspay", pg.MethodCard, pg.Won(10_000), approvedAt, 2)
//	// entry.Fee = 320, entry.VAT = 32, entry.Net = 9,648 won
//
// Payout dates are counted in Korean business days (Calendar): weekends,
// public and substitute holidays, election days, temporary and bank holidays
// are skipped, as officially announced (holidays_kr.csv). PayoutPolicy sets
// D+N per PG and payment method.
//
// A Ledger records entries once per sale or refund, sums them per day and
// reconciles them with a PG's own records. It keeps them through a Store,
// which settlement defines and store/settlementstore implements on a paygate
// database:
//
//	ledger := settlement.NewLedger(settlementstore.New(db))
//
// Report sums the ledger per business day (or month), PG and payment method,
// exactly, streaming the rows; Export writes the same report as CSV (UTF-8
// with a byte order mark) or XLSX (excelize's StreamWriter), Korean or
// English headers. A Reconciler compares the ledger with each PG's own
// records — a settlement report where the PG has one, its per-payment
// lookups otherwise — and stores the runs (RunStore, also in
// store/settlementstore). settlement/settlementhttp serves all of it over
// HTTP.
package settlement

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // Asia/Seoul on machines without a zoneinfo database

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// FeePolicy computes what a PG keeps from an amount. Implementations must be
// pure: the same input always gives the same fee, so a retried ledger write
// records the same numbers.
type FeePolicy interface {
	// Fee returns the fee (before VAT) for gross taken through pgName by
	// method. refund is true for the amount of a cancel.
	Fee(pgName string, method pg.Method, gross pg.Money, refund bool) (pg.Money, error)
}

// VATRate is Korea's value-added tax, charged on the PG's fee.
var VATRate = decimal.RequireFromString("0.1")

// RateFee is the common PG contract: a percentage of the amount plus a fixed
// fee per sale, rounded to the currency's minor unit (half up). On a refund
// the percentage part is returned by the PG and the fixed part is kept, which
// is how Korean card acquirers treat cancels.
type RateFee struct {
	Rate  decimal.Decimal // e.g. 0.032 for 3.2%
	Fixed pg.Money        // per sale; unset means none
}

// Fee implements FeePolicy.
func (r RateFee) Fee(_ string, _ pg.Method, gross pg.Money, refund bool) (pg.Money, error) {
	if r.Rate.IsNegative() || r.Rate.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return pg.Money{}, fmt.Errorf("settlement: fee rate %s out of range [0,1)", r.Rate)
	}
	units, _ := gross.Currency().MinorUnits()
	fee := gross.Amount().Mul(r.Rate).Round(units)
	if !refund && r.Fixed.IsSet() {
		if r.Fixed.Currency() != gross.Currency() {
			return pg.Money{}, fmt.Errorf("settlement: fixed fee in %s for an amount in %s", r.Fixed.Currency(), gross.Currency())
		}
		fee = fee.Add(r.Fixed.Amount())
	}
	if fee.GreaterThan(gross.Amount()) {
		fee = gross.Amount()
	}
	return pg.NewMoney(fee, gross.Currency())
}

// PerPG applies a different policy per PG name, falling back to Default.
type PerPG struct {
	Policies map[string]FeePolicy
	Default  FeePolicy
}

// Fee implements FeePolicy.
func (p PerPG) Fee(pgName string, method pg.Method, gross pg.Money, refund bool) (pg.Money, error) {
	if f, ok := p.Policies[pgName]; ok {
		return f.Fee(pgName, method, gross, refund)
	}
	if p.Default == nil {
		return pg.Money{}, fmt.Errorf("settlement: no fee policy for %q", pgName)
	}
	return p.Default.Fee(pgName, method, gross, refund)
}

// EntryType says whether an entry adds to or takes from the payout.
type EntryType string

const (
	EntrySale   EntryType = "SALE"
	EntryRefund EntryType = "REFUND"
)

// Entry is one settlement ledger line. Amounts are positive; Type gives the
// sign (a refund is subtracted).
type Entry struct {
	Type   EntryType
	Gross  pg.Money
	Fee    pg.Money
	VAT    pg.Money
	Net    pg.Money
	Payout time.Time // the business day the PG pays out, Asia/Seoul
}

// Sign returns +1 for a sale and -1 for a refund.
func (e Entry) Sign() int64 {
	if e.Type == EntryRefund {
		return -1
	}
	return 1
}

// Sale computes the ledger entry of an approved amount.
func Sale(policy FeePolicy, pgName string, method pg.Method, gross pg.Money, at time.Time, payoutDays int) (Entry, error) {
	return entry(EntrySale, policy, pgName, method, gross, at, payoutDays)
}

// Refund computes the ledger entry of a refunded amount.
func Refund(policy FeePolicy, pgName string, method pg.Method, amount pg.Money, at time.Time, payoutDays int) (Entry, error) {
	return entry(EntryRefund, policy, pgName, method, amount, at, payoutDays)
}

func entry(typ EntryType, policy FeePolicy, pgName string, method pg.Method, gross pg.Money, at time.Time, payoutDays int) (Entry, error) {
	return entryPaidOut(typ, policy, pgName, method, gross, PayoutDate(at, payoutDays))
}

// entryPaidOut computes an entry paid out on payout.
func entryPaidOut(typ EntryType, policy FeePolicy, pgName string, method pg.Method, gross pg.Money, payout time.Time) (Entry, error) {
	if policy == nil {
		return Entry{}, errors.New("settlement: no fee policy")
	}
	if !gross.IsPositive() {
		return Entry{}, fmt.Errorf("settlement: %s amount must be positive, got %s", typ, gross)
	}
	fee, err := policy.Fee(pgName, method, gross, typ == EntryRefund)
	if err != nil {
		return Entry{}, err
	}
	units, _ := gross.Currency().MinorUnits()
	vat, err := pg.NewMoney(fee.Amount().Mul(VATRate).Round(units), gross.Currency())
	if err != nil {
		return Entry{}, err
	}
	deductions, err := fee.Add(vat)
	if err != nil {
		return Entry{}, err
	}
	net, err := gross.Sub(deductions)
	if err != nil {
		return Entry{}, fmt.Errorf("settlement: fee %s and VAT %s exceed %s", fee, vat, gross)
	}
	return Entry{Type: typ, Gross: gross, Fee: fee, VAT: vat, Net: net, Payout: payout}, nil
}

// Seoul is the PGs' business time zone.
var Seoul = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*60*60)
	}
	return loc
}()

// dateLayout is how dates are written: YYYY-MM-DD, a day in Seoul.
const dateLayout = "2006-01-02"

// PayoutDate is the date, days business days after at's business date in
// Seoul (D+days), over KoreanCalendar: weekends, public and substitute
// holidays, election days, temporary and bank holidays are skipped; days = 0
// is D itself when it is a business day, else the next one. Beyond the
// calendar's coverage it counts Monday to Friday as business days
// (WeekdaysBeyondCalendar) rather than fail, so a ledger entry is always
// recorded; a PG's own settlement report is the authority for exact dates.
// PayoutPolicy.PayoutDate chooses the days per PG and method, the calendar,
// and fails beyond the coverage by default.
func PayoutDate(at time.Time, days int) time.Time {
	d, err := KoreanCalendar().addBusinessDays(at, max(days, 0), true)
	if err != nil { // unreachable: days is not negative and weekdays always come
		y, m, dd := at.In(Seoul).Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, Seoul)
	}
	return d
}
