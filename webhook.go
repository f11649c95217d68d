package paygate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// ApplyWebhook is the effect of a verified PG notification, run by the
// webhook intake in the transaction that records the delivery (hand it to
// webhook.Config.Effect). It only ever moves a payment forward:
//
//   - an approval (or a virtual-account deposit) settles an APPROVING,
//     UNKNOWN or WAITING_FOR_DEPOSIT payment as APPROVED — the first news
//     that settles an unknown outcome wins, and the saga continues from it;
//   - a failure or expiry settles an unsettled payment as FAILED/EXPIRED;
//   - cancels made at the PG (its console, or ours whose answer was lost)
//     bring the canceled amount up to the PG's, completing our own pending
//     cancel when the amounts match;
//   - anything else, late or out of order, changes nothing.
//
// A saga waiting for the news (its lookup backoff) is woken to act on it
// at once.
//
// Every delivery about a known payment is traced as WEBHOOK_RECEIVED. A
// notification for a payment paygate does not know changes nothing.
func (p *Paygate) ApplyWebhook(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
	pay, err := p.paymentForWebhook(ctx, tx, ev)
	if errors.Is(err, store.ErrNotFound) {
		p.log.Info("paygate: webhook for an unknown payment", "pg", ev.PG, "order", ev.OrderID)
		return nil
	}
	if err != nil {
		return err
	}
	news := ev.Payment
	if news == nil {
		news = &pg.Payment{PG: ev.PG, PaymentKey: ev.PaymentKey, OrderID: ev.OrderID, Status: ev.Status, Amount: ev.Amount}
	}
	if news.OrderID != "" && news.OrderID != pay.OrderID {
		return fmt.Errorf("paygate: webhook for %s names order %q", pay.ID, news.OrderID)
	}
	received := eventSpec{typ: EventWebhookReceived, reason: string(ev.Type), data: map[string]string{"dedupKey": ev.DedupKey, "status": string(news.Status)}}

	_, err = p.apply(ctx, tx, pay.ID, p.newsChange(ctx, tx, news, received))
	if err != nil {
		return err
	}
	// The payment saga may be waiting out its lookup backoff for exactly
	// this news (an unknown outcome, a virtual account's deposit): run it
	// now rather than at its next scheduled lookup.
	return p.runner.Wake(ctx, tx, paymentSagaName, pay.ID)
}

// WebhookSecret returns the per-payment secret a PG gave at approval (Toss)
// for verifying its notifications; hand it to webhook.Config.Secret.
func (p *Paygate) WebhookSecret(ctx context.Context, pgName, paymentKey, orderID string) (string, bool) {
	var pay *store.Payment
	var err error
	if paymentKey != "" {
		pay, err = p.db.PaymentByKey(ctx, pgName, paymentKey)
	} else if orderID != "" {
		var id string
		if id, err = p.db.OrderPayment(ctx, orderID); err == nil {
			pay, err = p.db.PaymentByID(ctx, id)
		}
	} else {
		return "", false
	}
	if err != nil || pay.PG != pgName || len(pay.PGData) == 0 {
		return "", false
	}
	var d pgData
	if json.Unmarshal(pay.PGData, &d) != nil || d.Secret == "" {
		return "", false
	}
	return d.Secret, true
}
