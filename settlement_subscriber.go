package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// settlementSubscriberName names the ledger writer in delivery records.
const settlementSubscriberName = "settlement-ledger"

// settlementSubscriber records a SALE ledger entry for every approval and a
// REFUND entry for every cancel, in the transaction that completes the
// event's delivery: each entry is written exactly once, and a failed write
// is retried until it lands without ever touching the payment. An
// approval's sale is most often written by the approval's own transaction
// instead (recordSales), which names this subscriber in the event's
// Handled so it gets no delivery; it still gets the sales that could not
// be written there, and the deliveries an earlier version emitted.
//
// Sales are recorded at approval rather than at order creation so the
// ledger matches the PG's own books day by day: the PG charged its fee on
// the approval even when the order then failed and the payment was
// refunded, and that refund is a REFUND entry on the day it happened. Both
// days are the PG's: a sale is dated by the PG's approval time and a refund
// by the PG's cancel time, whenever paygate learned of them.
func (p *Paygate) settlementSubscriber() outbox.Subscriber {
	return outbox.Subscriber{
		Name:        settlementSubscriberName,
		Types:       []string{EventPaymentApproved, EventPaymentLateCaptured, EventPaymentCanceled, EventPaymentRefunded},
		Handle:      p.recordSettlement,
		HandleBatch: p.recordSettlements,
		Ordered:     true,
		Retry:       outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
	}
}

func (p *Paygate) recordSettlement(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
	e, err := p.settlementEntryOf(ctx, tx, d, nil)
	if err != nil {
		return err
	}
	_, err = p.recordEntry(ctx, tx, e.pay, e.source, e.entry, e.at)
	return err
}

// recordSettlements is recordSettlement for a batch of deliveries: their
// payments read in one statement, their entries written in one and the
// SETTLEMENT_RECORDED events of the new ones in one more. Any error fails
// the batch, which the outbox then delivers one by one.
func (p *Paygate) recordSettlements(ctx context.Context, tx *sql.Tx, ds []outbox.Delivery) error {
	var entries []*pendingEntry
	err := p.withPayments(ctx, tx, ds, func(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) error {
		e, err := p.settlementEntryOf(ctx, tx, d, pay)
		entries = append(entries, e)
		return err
	})
	if err != nil {
		return err
	}
	recs := make([]*settlement.Record, len(entries))
	for i, e := range entries {
		recs[i] = e.record(p.now())
	}
	inserted, err := settlement.NewLedger(p.cfg.Ledger).RecordBatch(ctx, tx, recs)
	if err != nil {
		return err
	}
	var events []paymentEvents
	for i, e := range entries {
		if inserted[i] {
			events = append(events, paymentEvents{pay: e.pay, specs: []eventSpec{recordedEvent(recs[i])}})
		}
	}
	return p.recordAll(ctx, tx, events...)
}

// pendingEntry is the ledger entry a delivery asks for, not yet written.
type pendingEntry struct {
	pay    *store.Payment
	source string
	entry  settlement.Entry
	at     time.Time
}

func (e *pendingEntry) record(now time.Time) *settlement.Record {
	return &settlement.Record{
		SourceKey: e.source, PaymentID: e.pay.ID, OrderID: e.pay.OrderID, PG: e.pay.PG, Method: e.pay.Method,
		Entry: e.entry, BusinessDate: e.at, CreatedAt: now,
	}
}

// withPayments runs handle on each delivery with the payment its event is
// about, the payments of all of them read in one statement. A delivery
// whose event does not parse, or whose payment was not found, gets a nil
// payment, and handle reads it (and fails) as on its own.
func (p *Paygate) withPayments(ctx context.Context, tx *sql.Tx, ds []outbox.Delivery,
	handle func(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) error) error {
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		if ev, err := ParseEvent(d.Payload); err == nil && ev.PaymentID != "" {
			ids = append(ids, ev.PaymentID)
		}
	}
	slices.Sort(ids)
	pays, err := p.db.PaymentsByIDsTx(ctx, tx, slices.Compact(ids))
	if err != nil {
		return err
	}
	for _, d := range ds {
		var pay *store.Payment
		if ev, err := ParseEvent(d.Payload); err == nil {
			pay = pays[ev.PaymentID]
		}
		if err := handle(ctx, tx, d, pay); err != nil {
			return fmt.Errorf("delivery %d: %w", d.DeliveryID, err)
		}
	}
	return nil
}

// settlementEntryOf is the ledger entry of a delivery's event, with the
// event's payment as read in tx, or nil to read it.
func (p *Paygate) settlementEntryOf(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) (*pendingEntry, error) {
	ev, err := ParseEvent(d.Payload)
	if err != nil {
		return nil, outbox.Permanent(err)
	}
	if pay == nil || pay.ID != ev.PaymentID {
		if pay, err = p.db.PaymentByIDTx(ctx, tx, ev.PaymentID); err != nil {
			return nil, err
		}
	}
	amount, err := pg.ParseMoney(ev.Amount.String(), pg.Currency(ev.Currency))
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("paygate: event %s amount: %w", ev.EventID, err))
	}
	switch ev.EventType {
	case EventPaymentApproved, EventPaymentLateCaptured:
		return p.saleEntry(pay, amount, ev.OccurredAt)
	}
	var data struct {
		CancelID string `json:"cancelId"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.CancelID == "" {
		return nil, outbox.Permanent(fmt.Errorf("paygate: event %s has no cancel id", ev.EventID))
	}
	// The refund's day is the PG's: when it applied the cancel, not when
	// paygate heard of it (a notification after midnight, a console
	// cancel found by the next day's sync).
	at := ev.OccurredAt
	c, cerr := p.db.CancelByIDTx(ctx, tx, data.CancelID)
	if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
		return nil, cerr
	}
	if c != nil && !c.CanceledAt.IsZero() {
		at = c.CanceledAt
	}
	entry, err := p.cfg.Payouts.Refund(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at)
	if err != nil {
		return nil, outbox.Permanent(err)
	}
	return &pendingEntry{pay: pay, source: "refund:" + data.CancelID, entry: entry, at: at}, nil
}

// saleEntry is pay's SALE entry of amount, dated by the PG's approval time
// (at when the payment has none).
func (p *Paygate) saleEntry(pay *store.Payment, amount pg.Money, at time.Time) (*pendingEntry, error) {
	if !pay.ApprovedAt.IsZero() {
		at = pay.ApprovedAt
	}
	entry, err := p.cfg.Payouts.Sale(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at)
	if err != nil {
		return nil, outbox.Permanent(err)
	}
	return &pendingEntry{pay: pay, source: "sale:" + pay.ID, entry: entry, at: at}, nil
}

// recordSale writes pay's SALE entry of amount (source "sale:<payment id>")
// and its SETTLEMENT_RECORDED event in tx, dated by the PG's approval time
// (at when the payment has none). It reports false, writing nothing, when
// the entry exists. The settlement subscriber and reconciliation both
// record sales through it. An entry that cannot be computed (no fee
// policy for the PG, a payout date beyond the calendar) is a permanent
// error: retrying changes nothing until the configuration does.
func (p *Paygate) recordSale(ctx context.Context, tx *sql.Tx, pay *store.Payment, amount pg.Money, at time.Time) (bool, error) {
	e, err := p.saleEntry(pay, amount, at)
	if err != nil {
		return false, err
	}
	return p.recordEntry(ctx, tx, pay, e.source, e.entry, e.at)
}

// recordEntry writes one ledger entry and its SETTLEMENT_RECORDED event in
// tx, once per source.
func (p *Paygate) recordEntry(ctx context.Context, tx *sql.Tx, pay *store.Payment, source string, entry settlement.Entry, at time.Time) (bool, error) {
	rec := (&pendingEntry{pay: pay, source: source, entry: entry, at: at}).record(p.now())
	inserted, err := settlement.NewLedger(p.cfg.Ledger).Record(ctx, tx, rec)
	if err != nil || !inserted {
		return false, err
	}
	return true, p.record(ctx, tx, pay, recordedEvent(rec))
}

// recordedEvent is the SETTLEMENT_RECORDED event of a ledger entry written.
func recordedEvent(rec *settlement.Record) eventSpec {
	entry := rec.Entry
	return eventSpec{
		typ: EventSettlementRecorded, amount: entry.Gross.Amount().String(), reason: string(entry.Type),
		data: map[string]string{
			"entryId": rec.ID, "source": rec.SourceKey, "fee": entry.Fee.Amount().String(),
			"vat": entry.VAT.Amount().String(), "net": entry.Net.Amount().String(),
			"payoutDate": entry.Payout.Format("2006-01-02"),
		},
	}
}
