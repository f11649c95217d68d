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
// is retried until it lands without ever touching the payment.
//
// Sales are recorded at approval rather than at order creation so the
// ledger matches the PG's own books day by day: the PG charged its fee on
// the approval even when the order then failed and the payment was
// refunded, and that refund is a REFUND entry on the day it happened. Both
// days are the PG's: a sale is dated by the PG's approval time and a refund
// by the PG's cancel time, whenever paygate learned of them.
func (p *Paygate) settlementSubscriber() outbox.Subscriber {
	return outbox.Subscriber{
		Name:   settlementSubscriberName,
		Types:  []string{EventPaymentApproved, EventPaymentLateCaptured, EventPaymentCanceled, EventPaymentRefunded},
		Handle: p.recordSettlement,
		HandleBatch: func(ctx context.Context, tx *sql.Tx, ds []outbox.Delivery) error {
			return p.withPayments(ctx, tx, ds, p.recordSettlementOf)
		},
		Ordered: true,
		Retry:   outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
	}
}

func (p *Paygate) recordSettlement(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
	return p.recordSettlementOf(ctx, tx, d, nil)
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

// recordSettlementOf is recordSettlement with the event's payment as read
// in tx, or nil to read it.
func (p *Paygate) recordSettlementOf(ctx context.Context, tx *sql.Tx, d outbox.Delivery, pay *store.Payment) error {
	ev, err := ParseEvent(d.Payload)
	if err != nil {
		return outbox.Permanent(err)
	}
	if pay == nil || pay.ID != ev.PaymentID {
		if pay, err = p.db.PaymentByIDTx(ctx, tx, ev.PaymentID); err != nil {
			return err
		}
	}
	amount, err := pg.ParseMoney(ev.Amount.String(), pg.Currency(ev.Currency))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("paygate: event %s amount: %w", ev.EventID, err))
	}
	switch ev.EventType {
	case EventPaymentApproved, EventPaymentLateCaptured:
		_, err = p.recordSale(ctx, tx, pay, amount, ev.OccurredAt)
		return err
	}
	var data struct {
		CancelID string `json:"cancelId"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.CancelID == "" {
		return outbox.Permanent(fmt.Errorf("paygate: event %s has no cancel id", ev.EventID))
	}
	// The refund's day is the PG's: when it applied the cancel, not when
	// paygate heard of it (a notification after midnight, a console
	// cancel found by the next day's sync).
	at := ev.OccurredAt
	c, cerr := p.db.CancelByIDTx(ctx, tx, data.CancelID)
	if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
		return cerr
	}
	if c != nil && !c.CanceledAt.IsZero() {
		at = c.CanceledAt
	}
	entry, err := p.cfg.Payouts.Refund(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at)
	if err != nil {
		return outbox.Permanent(err)
	}
	_, err = p.recordEntry(ctx, tx, pay, "refund:"+data.CancelID, entry, at)
	return err
}

// recordSale writes pay's SALE entry of amount (source "sale:<payment id>")
// and its SETTLEMENT_RECORDED event in tx, dated by the PG's approval time
// (at when the payment has none). It reports false, writing nothing, when
// the entry exists. The settlement subscriber and reconciliation both
// record sales through it. An entry that cannot be computed (no fee
// policy for the PG, a payout date beyond the calendar) is a permanent
// error: retrying changes nothing until the configuration does.
func (p *Paygate) recordSale(ctx context.Context, tx *sql.Tx, pay *store.Payment, amount pg.Money, at time.Time) (bool, error) {
	if !pay.ApprovedAt.IsZero() {
		at = pay.ApprovedAt
	}
	entry, err := p.cfg.Payouts.Sale(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at)
	if err != nil {
		return false, outbox.Permanent(err)
	}
	return p.recordEntry(ctx, tx, pay, "sale:"+pay.ID, entry, at)
}

// recordEntry writes one ledger entry and its SETTLEMENT_RECORDED event in
// tx, once per source.
func (p *Paygate) recordEntry(ctx context.Context, tx *sql.Tx, pay *store.Payment, source string, entry settlement.Entry, at time.Time) (bool, error) {
	rec := &settlement.Record{
		SourceKey: source, PaymentID: pay.ID, OrderID: pay.OrderID, PG: pay.PG, Method: pay.Method,
		Entry: entry, BusinessDate: at, CreatedAt: p.now(),
	}
	inserted, err := settlement.NewLedger(p.cfg.Ledger).Record(ctx, tx, rec)
	if err != nil || !inserted {
		return false, err
	}
	return true, p.record(ctx, tx, pay, eventSpec{
		typ: EventSettlementRecorded, amount: entry.Gross.Amount().String(), reason: string(entry.Type),
		data: map[string]string{
			"entryId": rec.ID, "source": source, "fee": entry.Fee.Amount().String(),
			"vat": entry.VAT.Amount().String(), "net": entry.Net.Amount().String(),
			"payoutDate": entry.Payout.Format("2006-01-02"),
		},
	})
}
