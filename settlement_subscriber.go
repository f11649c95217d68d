package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
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
		Name:    settlementSubscriberName,
		Types:   []string{EventPaymentApproved, EventPaymentLateCaptured, EventPaymentCanceled, EventPaymentRefunded},
		Handle:  p.recordSettlement,
		Ordered: true,
		Retry:   outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
	}
}

func (p *Paygate) recordSettlement(ctx context.Context, tx *sql.Tx, d outbox.Delivery) error {
	ev, err := ParseEvent(d.Payload)
	if err != nil {
		return outbox.Permanent(err)
	}
	pay, err := p.db.PaymentByIDTx(ctx, tx, ev.PaymentID)
	if err != nil {
		return err
	}
	amount, err := pg.ParseMoney(ev.Amount.String(), pg.Currency(ev.Currency))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("paygate: event %s amount: %w", ev.EventID, err))
	}
	at := ev.OccurredAt
	var entry settlement.Entry
	var source string
	switch ev.EventType {
	case EventPaymentApproved, EventPaymentLateCaptured:
		if !pay.ApprovedAt.IsZero() {
			at = pay.ApprovedAt
		}
		source = "sale:" + pay.ID
		entry, err = settlement.Sale(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at, p.cfg.PayoutDays)
	default:
		var data struct {
			CancelID string `json:"cancelId"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil || data.CancelID == "" {
			return outbox.Permanent(fmt.Errorf("paygate: event %s has no cancel id", ev.EventID))
		}
		source = "refund:" + data.CancelID
		// The refund's day is the PG's: when it applied the cancel, not
		// when paygate heard of it (a notification after midnight, a
		// console cancel found by the next day's sync).
		c, cerr := p.db.CancelByIDTx(ctx, tx, data.CancelID)
		if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
			return cerr
		}
		if c != nil && !c.CanceledAt.IsZero() {
			at = c.CanceledAt
		}
		entry, err = settlement.Refund(p.cfg.Fees, pay.PG, pg.Method(pay.Method), amount, at, p.cfg.PayoutDays)
	}
	if err != nil {
		return outbox.Permanent(err)
	}
	rec := &settlement.Record{
		SourceKey: source, PaymentID: pay.ID, OrderID: pay.OrderID, PG: pay.PG, Method: pay.Method,
		Entry: entry, BusinessDate: at, CreatedAt: p.now(),
	}
	inserted, err := settlement.NewLedger(settlementstore.New(p.db)).Record(ctx, tx, rec)
	if err != nil || !inserted {
		return err
	}
	return p.record(ctx, tx, pay, eventSpec{
		typ: EventSettlementRecorded, amount: entry.Gross.Amount().String(), reason: string(entry.Type),
		data: map[string]string{
			"entryId": rec.ID, "source": source, "fee": entry.Fee.Amount().String(),
			"vat": entry.VAT.Amount().String(), "net": entry.Net.Amount().String(),
			"payoutDate": entry.Payout.Format("2006-01-02"),
		},
	})
}
