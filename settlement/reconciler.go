package settlement

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/paygate/paygate/pg"
)

// DifferenceKind says how the ledger and a PG disagree about a payment.
type DifferenceKind string

const (
	// MissingInLedger: the PG has a sale or refund the ledger does not.
	MissingInLedger DifferenceKind = "MISSING_IN_LEDGER"
	// MissingAtPG: the ledger has a sale or refund the PG does not.
	MissingAtPG DifferenceKind = "MISSING_AT_PG"
	// AmountDiffers: both have the payment, with different amounts (sales
	// minus refunds).
	AmountDiffers DifferenceKind = "AMOUNT"
	// FeeDiffers: what the PG keeps differs: its fee against the ledger's
	// fee plus VAT, or its payout short of the amount by something else.
	FeeDiffers DifferenceKind = "FEE"
	// PayoutDateDiffers: the PG pays the sale out on another day than the
	// ledger's payout date.
	PayoutDateDiffers DifferenceKind = "PAYOUT_DATE"
)

// Sources a reconciliation compares the ledger with.
const (
	// SourceSettlementReport is the PG's settlement report
	// (pg.SettlementReporter): every payment of every day, with its fee,
	// payout amount and payout date.
	SourceSettlementReport = "SETTLEMENT_REPORT"
	// SourceLookup is, for a PG without a report, paygate's own payment
	// rows for every payment and the PG's per-payment lookups for a
	// sample of them.
	SourceLookup = "LOOKUP"
)

// MaxReconcileDays bounds a reconciliation's range.
const MaxReconcileDays = 92

// ErrUnknownPG is wrapped when a reconciliation names a PG the registry
// does not have.
var ErrUnknownPG = errors.New("settlement: unknown PG")

// Difference is one disagreement between the ledger ("ours") and the PG
// ("theirs") about one payment on one day. Ours and Theirs are amounts in
// the currency's unit ("15000"), or dates (YYYY-MM-DD) for a payout date;
// empty on the side that has nothing.
type Difference struct {
	Kind       DifferenceKind `json:"kind"`
	PaymentID  string         `json:"paymentId,omitempty"`
	PaymentKey string         `json:"paymentKey,omitempty"`
	OrderID    string         `json:"orderId,omitempty"`
	Ours       string         `json:"ours,omitempty"`
	Theirs     string         `json:"theirs,omitempty"`
	// Recorded is set when the run recorded the missing sale itself,
	// through the settlement subscriber's own idempotent write (source
	// "sale:<payment id>"). Every other difference is for the operators:
	// it stays in the run, listed by Runs, until they act.
	Recorded bool `json:"recorded,omitempty"`
	// Note says more: what the difference was checked against, why it was
	// not recorded.
	Note string `json:"note,omitempty"`
}

// RunDay is one business day of a run. LedgerNet is the ledger's sales
// minus refunds (gross, minor units); PGNet the PG's, when its report gives
// the whole day (nil for a sampled check).
type RunDay struct {
	Date        string       `json:"date"`
	Currency    pg.Currency  `json:"currency"`
	LedgerNet   int64        `json:"ledgerNet"`
	PGNet       *int64       `json:"pgNet,omitempty"`
	Differences []Difference `json:"differences"`
}

// Run is one stored reconciliation: which PG and days were compared with
// what, when, and every difference found, day by day.
type Run struct {
	ID         string
	PG         string
	From, To   time.Time // business days in Seoul, both included
	Source     string
	StartedAt  time.Time
	FinishedAt time.Time
	// Checked counts the payments compared; Sampled those of them looked
	// up at the PG (SourceLookup).
	Checked int
	Sampled int
	// Differences counts the differences of all days; Recorded those the
	// run recorded itself.
	Differences int
	Recorded    int
	Days        []RunDay
	// Notes are what the run could not check, e.g. a payment whose
	// lookup the PG did not answer.
	Notes []string
}

// RunStore keeps reconciliation runs; store/settlementstore implements it.
type RunStore interface {
	// InsertRun stores a finished run.
	InsertRun(ctx context.Context, r *Run) error
	// Runs lists up to limit runs, newest first, of pgName (any PG when
	// empty).
	Runs(ctx context.Context, pgName string, limit int) ([]Run, error)
}

// PaymentRecord is paygate's record of a payment, as a reconciliation sees
// it.
type PaymentRecord struct {
	ID         string
	PG         string
	PaymentKey string
	OrderID    string
	Method     string
	Status     pg.Status
	// Approved is what the PG captured, Canceled what was refunded since.
	Approved   pg.Money
	Canceled   pg.Money
	ApprovedAt time.Time
}

// Payments is what a reconciliation needs of paygate's payment records and
// its write path; the paygate package implements it (Paygate.Reconciler).
type Payments interface {
	// ByKey returns the payment pgName knows by paymentKey; nil when
	// there is none.
	ByKey(ctx context.Context, pgName, paymentKey string) (*PaymentRecord, error)
	// Approved lists pgName's payments approved at a time in [from, to),
	// whatever their status since, in order of approval time and id, up
	// to limit of them after after (nil: from the first).
	Approved(ctx context.Context, pgName string, from, to time.Time, after *PaymentRecord, limit int) ([]PaymentRecord, error)
	// Lookup asks the PG for its view of the payment; a payment the PG
	// does not have is a pg.ErrNotFound error.
	Lookup(ctx context.Context, paymentID string) (*pg.Payment, error)
	// RecordSale records the payment's SALE entry through the ledger
	// write of the settlement subscriber, keyed "sale:<payment id>",
	// reporting whether it wrote one (false: the entry was there).
	RecordSale(ctx context.Context, paymentID string) (bool, error)
}

// ReconcilerConfig configures a Reconciler. Ledger, Runs, Gateways and
// Payments are required.
type ReconcilerConfig struct {
	Ledger   *Ledger
	Runs     RunStore
	Gateways *pg.Registry
	Payments Payments
	// Sample bounds how many payments a lookup check asks the PG about
	// (each a call to the PG); default 50.
	Sample int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Reconciler compares the ledger with each PG's own records and keeps the
// runs. It is safe for concurrent use.
type Reconciler struct {
	cfg ReconcilerConfig
}

// NewReconciler checks cfg and returns its Reconciler.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Ledger == nil || cfg.Runs == nil || cfg.Gateways == nil || cfg.Payments == nil {
		return nil, errors.New("settlement: a reconciler needs a ledger, a run store, the gateways and the payments")
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{cfg: cfg}, nil
}

// PGs lists the PGs a run can name.
func (r *Reconciler) PGs() []string { return r.cfg.Gateways.Names() }

// Runs lists up to limit stored runs, newest first, of pgName (every PG
// when empty).
func (r *Reconciler) Runs(ctx context.Context, pgName string, limit int) ([]Run, error) {
	return r.cfg.Runs.Runs(ctx, pgName, limit)
}

// Reconcile compares pgName's ledger for the business days from..to (Seoul,
// both included, at most MaxReconcileDays) with the PG's records, stores the
// run and returns it.
//
// A PG with a settlement report (pg.SettlementReporter: Toss's
// /v1/settlements) is compared payment by payment and day by day: amount,
// fee and payout amount, payout date. The report has a day only from the
// next day on, so a run that includes today shows today's sales as missing
// at the PG. For any other PG, every payment approved in the range is
// checked against paygate's own payment rows, and a random sample of them
// (ReconcilerConfig.Sample) against the PG's lookup of the payment.
//
// A sale the PG captured that the ledger misses is recorded at once through
// Payments.RecordSale, the settlement subscriber's own idempotent write; the
// difference stays in the run, marked Recorded. Everything else (a refund
// the ledger misses, a payment the PG does not know, an amount, fee or
// payout date that differs) is left to the operators: the run's
// differences are the list they work from.
func (r *Reconciler) Reconcile(ctx context.Context, pgName string, from, to time.Time) (*Run, error) {
	gw, err := r.cfg.Gateways.Get(pgName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w %q", ErrInvalidQuery, ErrUnknownPG, pgName)
	}
	if from.IsZero() || to.IsZero() {
		return nil, fmt.Errorf("%w: a reconciliation needs from and to", ErrInvalidQuery)
	}
	start, end := dayStart(from), dayStart(to)
	if end.Before(start) {
		return nil, fmt.Errorf("%w: to (%s) is before from (%s)", ErrInvalidQuery, end.Format(dateLayout), start.Format(dateLayout))
	}
	if n := dayCount(start, end); n > MaxReconcileDays {
		return nil, fmt.Errorf("%w: %d days; a reconciliation spans at most %d", ErrInvalidQuery, n, MaxReconcileDays)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("settlement: new run id: %w", err)
	}
	run := &Run{ID: "rec_" + id.String(), PG: pgName, From: start, To: end, StartedAt: r.cfg.Now().UTC()}
	c := &comparison{r: r, run: run, days: map[dayKey]*RunDay{}, lookedUp: map[string]bool{}}
	if sr, ok := gw.(pg.SettlementReporter); ok {
		run.Source = SourceSettlementReport
		err = c.byReport(ctx, sr)
	} else {
		run.Source = SourceLookup
		err = c.byLookup(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("settlement: reconcile %s: %w", pgName, err)
	}
	c.finish()
	run.FinishedAt = r.cfg.Now().UTC()
	if err := r.cfg.Runs.InsertRun(ctx, run); err != nil {
		return nil, err
	}
	return run, nil
}

type dayKey struct {
	day string
	cur pg.Currency
}

// side is one side's view of one payment on one day. Amounts are minor
// units; fee is signed (refunds return part of it), as are the net
// amounts.
type side struct {
	paymentID, paymentKey, orderID string
	sales, refunds                 int64
	fee                            int64
	net                            int64 // ledger: net; PG: payout amount
	hasSale                        bool
	payout                         string // the sale's payout date
	feeKnown                       bool
}

type comparison struct {
	r    *Reconciler
	run  *Run
	days map[dayKey]*RunDay
	// lookedUp holds the payments already asked about at the PG.
	lookedUp map[string]bool
}

func (c *comparison) day(d string, cur pg.Currency) *RunDay {
	k := dayKey{d, cur}
	if c.days[k] == nil {
		c.days[k] = &RunDay{Date: d, Currency: cur, Differences: []Difference{}}
	}
	return c.days[k]
}

func (c *comparison) add(d string, cur pg.Currency, diff Difference) {
	day := c.day(d, cur)
	day.Differences = append(day.Differences, diff)
}

// finish orders the days and counts the differences.
func (c *comparison) finish() {
	for _, d := range c.days {
		c.run.Days = append(c.run.Days, *d)
		c.run.Differences += len(d.Differences)
		for _, x := range d.Differences {
			if x.Recorded {
				c.run.Recorded++
			}
		}
	}
	sort.Slice(c.run.Days, func(i, j int) bool {
		a, b := c.run.Days[i], c.run.Days[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		return a.Currency < b.Currency
	})
}

// ledger reads the run's ledger entries, per day, currency and payment.
func (c *comparison) ledger(ctx context.Context) (map[dayKey]map[string]*side, error) {
	ours := map[dayKey]map[string]*side{}
	err := c.r.cfg.Ledger.Entries(ctx, EntryQuery{PG: c.run.PG, From: c.run.From, To: c.run.To}, func(rec Record) error {
		k := dayKey{rec.BusinessDate.In(Seoul).Format(dateLayout), rec.Gross.Currency()}
		if ours[k] == nil {
			ours[k] = map[string]*side{}
		}
		s := ours[k][rec.PaymentID]
		if s == nil {
			s = &side{paymentID: rec.PaymentID, orderID: rec.OrderID, feeKnown: true}
			ours[k][rec.PaymentID] = s
		}
		sign := rec.Sign()
		if rec.Type == EntryRefund {
			s.refunds += rec.Gross.Int64()
		} else {
			s.sales += rec.Gross.Int64()
			s.hasSale = true
			s.payout = rec.Payout.In(Seoul).Format(dateLayout)
		}
		s.fee += sign * (rec.Fee.Int64() + rec.VAT.Int64())
		s.net += sign * rec.Net.Int64()
		day := c.day(k.day, k.cur)
		day.LedgerNet += sign * rec.Gross.Int64()
		return nil
	})
	return ours, err
}

// byReport compares the ledger with the PG's settlement report.
func (c *comparison) byReport(ctx context.Context, sr pg.SettlementReporter) error {
	ours, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	recs, err := sr.Settlements(ctx, pg.ReportQuery{From: c.run.From, To: c.run.To.AddDate(0, 0, 1).Add(-time.Second)})
	if err != nil {
		return err
	}
	// ids maps the PG's payment keys onto paygate's payments.
	ids := map[string]*PaymentRecord{}
	theirs := map[dayKey]map[string]*side{}
	for _, s := range recs {
		if !s.Amount.IsSet() || s.SoldDate.IsZero() {
			continue
		}
		d := s.SoldDate.In(Seoul).Format(dateLayout)
		if d < c.run.From.Format(dateLayout) || d > c.run.To.Format(dateLayout) {
			continue
		}
		p, seen := ids[s.PaymentKey]
		if !seen {
			if p, err = c.r.cfg.Payments.ByKey(ctx, c.run.PG, s.PaymentKey); err != nil {
				return err
			}
			ids[s.PaymentKey] = p
		}
		id := "key:" + s.PaymentKey
		if p != nil {
			id = p.ID
		}
		k := dayKey{d, s.Amount.Currency()}
		if theirs[k] == nil {
			theirs[k] = map[string]*side{}
		}
		t := theirs[k][id]
		if t == nil {
			t = &side{paymentKey: s.PaymentKey, orderID: s.OrderID, feeKnown: true}
			if p != nil {
				t.paymentID = p.ID
			}
			theirs[k][id] = t
		}
		var sign int64 = 1
		if s.Cancel {
			sign = -1
			t.refunds += s.Amount.Int64()
		} else {
			t.sales += s.Amount.Int64()
			t.hasSale = true
			if !s.PaidOutAt.IsZero() {
				t.payout = s.PaidOutAt.In(Seoul).Format(dateLayout)
			}
		}
		if s.Fee.IsSet() {
			t.fee += sign * s.Fee.Int64()
		} else {
			t.feeKnown = false
		}
		t.net += sign * s.Payout.Int64()
		day := c.day(d, k.cur)
		if day.PGNet == nil {
			day.PGNet = new(int64)
		}
		*day.PGNet += sign * s.Amount.Int64()
	}
	// The report covers every day of the range: a day it has nothing
	// for is a PG figure of zero.
	for _, day := range c.days {
		if day.PGNet == nil {
			day.PGNet = new(int64)
		}
	}

	keys := map[dayKey]bool{}
	for k := range ours {
		keys[k] = true
	}
	for k := range theirs {
		keys[k] = true
	}
	for k := range keys {
		pids := map[string]bool{}
		for id := range ours[k] {
			pids[id] = true
		}
		for id := range theirs[k] {
			pids[id] = true
		}
		for _, id := range sortedKeys(pids) {
			if err := c.comparePayment(ctx, k, ours[k][id], theirs[k][id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// comparePayment compares one payment's day in the ledger (o) and in the
// PG's report (t); either may be nil.
func (c *comparison) comparePayment(ctx context.Context, k dayKey, o, t *side) error {
	c.run.Checked++
	amt := func(v int64) string { return Money(v, k.cur).String() }
	switch {
	case t == nil:
		c.add(k.day, k.cur, Difference{Kind: MissingAtPG, PaymentID: o.paymentID, OrderID: o.orderID,
			Ours: amt(o.sales - o.refunds), Note: "the PG's report has nothing of this payment on this day"})
		return nil
	case o == nil || (t.hasSale && !o.hasSale):
		diff := Difference{Kind: MissingInLedger, PaymentID: t.paymentID, PaymentKey: t.paymentKey, OrderID: t.orderID,
			Theirs: amt(t.sales - t.refunds)}
		if o != nil {
			diff.Ours = amt(o.sales - o.refunds)
		}
		switch {
		case t.paymentID == "":
			diff.Note = "no payment of paygate has this payment key"
		case t.hasSale:
			recorded, err := c.r.cfg.Payments.RecordSale(ctx, t.paymentID)
			if err != nil {
				diff.Note = "recording the sale failed: " + err.Error()
			} else if recorded {
				diff.Recorded = true
				diff.Note = "the sale was recorded by this run"
			} else {
				diff.Note = "the ledger has the sale on another day"
			}
		default:
			diff.Note = "a refund the ledger does not have"
		}
		c.add(k.day, k.cur, diff)
		if o == nil {
			return nil
		}
	}
	base := Difference{PaymentID: o.paymentID, PaymentKey: t.paymentKey, OrderID: o.orderID}
	if ov, tv := o.sales-o.refunds, t.sales-t.refunds; ov != tv && o.hasSale == t.hasSale {
		d := base
		d.Kind, d.Ours, d.Theirs = AmountDiffers, amt(ov), amt(tv)
		c.add(k.day, k.cur, d)
	}
	if t.feeKnown && o.fee != t.fee {
		d := base
		d.Kind, d.Ours, d.Theirs, d.Note = FeeDiffers, amt(o.fee), amt(t.fee), "fee with VAT"
		c.add(k.day, k.cur, d)
	} else if kept := (t.sales - t.refunds) - t.net; o.sales-o.refunds == t.sales-t.refunds && kept != o.fee {
		d := base
		d.Kind, d.Ours, d.Theirs, d.Note = FeeDiffers, amt(o.fee), amt(kept), "what the PG keeps: amount minus payout"
		c.add(k.day, k.cur, d)
	}
	if o.hasSale && t.hasSale && t.payout != "" && o.payout != t.payout {
		d := base
		d.Kind, d.Ours, d.Theirs = PayoutDateDiffers, o.payout, t.payout
		c.add(k.day, k.cur, d)
	}
	return nil
}

// byLookup checks every payment approved in the range against paygate's
// own rows, and a sample of them against the PG's lookups.
func (c *comparison) byLookup(ctx context.Context) error {
	ours, err := c.ledger(ctx)
	if err != nil {
		return err
	}
	sold := map[string]bool{} // payments with a sale in the range's ledger
	for _, m := range ours {
		for id, s := range m {
			if s.hasSale {
				sold[id] = true
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(c.r.cfg.Now().UnixNano()), 0x5e771e))
	var sample []PaymentRecord
	seen := 0
	approved := map[string]bool{}
	var after *PaymentRecord
	for {
		page, err := c.r.cfg.Payments.Approved(ctx, c.run.PG, c.run.From, c.run.To.AddDate(0, 0, 1), after, 500)
		if err != nil {
			return err
		}
		for i := range page {
			p := page[i]
			approved[p.ID] = true
			if err := c.checkRow(ctx, p); err != nil {
				return err
			}
			// Reservoir sampling: every payment has the same chance.
			seen++
			if len(sample) < c.r.cfg.Sample {
				sample = append(sample, p)
			} else if j := rng.IntN(seen); j < len(sample) {
				sample[j] = p
			}
		}
		if len(page) < 500 {
			break
		}
		after = &page[len(page)-1]
	}
	for _, p := range sample {
		if c.lookedUp[p.ID] {
			continue
		}
		if err := c.checkAtPG(ctx, p); err != nil {
			return err
		}
	}
	for k, m := range ours {
		for _, id := range sortedKeys(m) {
			s := m[id]
			if s.hasSale && !approved[id] {
				c.run.Checked++
				c.add(k.day, k.cur, Difference{Kind: MissingAtPG, PaymentID: id, OrderID: s.orderID,
					Ours: Money(s.sales, k.cur).String(), Note: "paygate has no payment approved that day for this sale"})
			}
		}
	}
	return nil
}

// payment sums a payment's whole ledger: sales and refunds, in minor units.
func (c *comparison) payment(ctx context.Context, id string) (sales, refunds int64, hasSale bool, err error) {
	recs, err := c.r.cfg.Ledger.ByPayment(ctx, id)
	if err != nil {
		return 0, 0, false, err
	}
	for _, r := range recs {
		if r.Type == EntryRefund {
			refunds += r.Gross.Int64()
		} else {
			sales += r.Gross.Int64()
			hasSale = true
		}
	}
	return sales, refunds, hasSale, nil
}

// checkRow compares a payment's whole ledger with paygate's row of it.
func (c *comparison) checkRow(ctx context.Context, p PaymentRecord) error {
	c.run.Checked++
	cur := p.Approved.Currency()
	d := p.ApprovedAt.In(Seoul).Format(dateLayout)
	c.day(d, cur)
	sales, refunds, hasSale, err := c.payment(ctx, p.ID)
	if err != nil {
		return err
	}
	theirs := p.Approved.Int64() - minorOf(p.Canceled)
	amt := func(v int64) string { return Money(v, cur).String() }
	if !hasSale {
		// Recorded only once the PG confirms the capture: paygate's row
		// alone could be the thing that is wrong.
		c.lookedUp[p.ID] = true
		c.run.Sampled++
		diff := Difference{Kind: MissingInLedger, PaymentID: p.ID, PaymentKey: p.PaymentKey, OrderID: p.OrderID,
			Theirs: amt(p.Approved.Int64())}
		res, err := c.r.cfg.Payments.Lookup(ctx, p.ID)
		switch {
		case errors.Is(err, pg.ErrNotFound):
			diff.Kind, diff.Theirs = MissingAtPG, ""
			diff.Note = "paygate's record says approved, the PG's lookup does not know the payment, and the ledger has no sale"
		case err != nil:
			diff.Note = "not recorded: the PG's lookup failed: " + err.Error()
		case !res.Status.Captured() && res.Status != pg.StatusCanceled:
			diff.Note = "not recorded: the PG says " + string(res.Status)
		default:
			recorded, err := c.r.cfg.Payments.RecordSale(ctx, p.ID)
			switch {
			case err != nil:
				diff.Note = "the PG confirms the capture; recording the sale failed: " + err.Error()
			case recorded:
				diff.Recorded = true
				diff.Note = "the PG confirms the capture; the sale was recorded by this run"
			default:
				diff.Note = "the PG confirms the capture; the sale was recorded meanwhile"
			}
		}
		c.add(d, cur, diff)
		return nil
	}
	if sales-refunds != theirs {
		c.add(d, cur, Difference{Kind: AmountDiffers, PaymentID: p.ID, PaymentKey: p.PaymentKey, OrderID: p.OrderID,
			Ours: amt(sales - refunds), Theirs: amt(theirs), Note: "against paygate's payment record: approved minus canceled"})
	}
	return nil
}

// checkAtPG compares a payment's whole ledger with the PG's lookup of it.
func (c *comparison) checkAtPG(ctx context.Context, p PaymentRecord) error {
	c.run.Sampled++
	cur := p.Approved.Currency()
	d := p.ApprovedAt.In(Seoul).Format(dateLayout)
	amt := func(v int64) string { return Money(v, cur).String() }
	sales, refunds, _, err := c.payment(ctx, p.ID)
	if err != nil {
		return err
	}
	res, err := c.r.cfg.Payments.Lookup(ctx, p.ID)
	if errors.Is(err, pg.ErrNotFound) {
		c.add(d, cur, Difference{Kind: MissingAtPG, PaymentID: p.ID, PaymentKey: p.PaymentKey, OrderID: p.OrderID,
			Ours: amt(sales - refunds), Note: "the PG's lookup does not know the payment"})
		return nil
	}
	if err != nil {
		// The PG did not answer: this payment was not checked there;
		// the run says so rather than fail as a whole.
		c.run.Sampled--
		c.run.Notes = append(c.run.Notes, fmt.Sprintf("%s not checked at the PG: %v", p.ID, err))
		return nil
	}
	// What the PG holds of the payment: its balance (approved minus
	// canceled), or the amount less the cancels it lists.
	var theirs int64
	switch {
	case !res.Status.Captured() && res.Status != pg.StatusCanceled:
	case res.Balance.IsSet():
		theirs = res.Balance.Int64()
	default:
		theirs = minorOf(res.Amount)
		for _, cn := range res.Cancels {
			theirs -= minorOf(cn.Amount)
		}
	}
	if theirs != sales-refunds {
		c.add(d, cur, Difference{Kind: AmountDiffers, PaymentID: p.ID, PaymentKey: p.PaymentKey, OrderID: p.OrderID,
			Ours: amt(sales - refunds), Theirs: amt(theirs), Note: "against the PG's lookup: " + string(res.Status)})
	}
	return nil
}

func minorOf(m pg.Money) int64 {
	if !m.IsSet() {
		return 0
	}
	return m.Int64()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
