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

	_, err = p.apply(ctx, tx, pay.ID, func(cur *store.Payment) (bool, []eventSpec, error) {
		events := []eventSpec{received}
		switch news.Status {
		case pg.StatusApproved, pg.StatusPartialCanceled, pg.StatusCanceled:
			if cur.Status == pg.StatusFailed || cur.Status == pg.StatusExpired {
				evs, err := p.lateCapture(ctx, tx, cur, news)
				if err != nil {
					return false, nil, err
				}
				return true, append(events, evs...), nil
			}
			fallthrough
		case pg.StatusWaitingForDeposit:
			if news.Amount.IsSet() && !news.Amount.Equal(cur.Amount) && !cur.Status.Captured() {
				return false, nil, fmt.Errorf("paygate: webhook for %s reports %s, payment is %s", cur.ID, news.Amount, cur.Amount)
			}
			if changed, evs, err := p.approvedChange(news)(cur); err != nil {
				return false, nil, err
			} else if changed {
				events = append(events, evs...)
			}
			if news.Status == pg.StatusPartialCanceled || news.Status == pg.StatusCanceled {
				evs, err := p.syncCancels(ctx, tx, cur, news)
				if err != nil {
					return false, nil, err
				}
				events = append(events, evs...)
			}
		case pg.StatusFailed, pg.StatusExpired:
			target := news.Status
			if target == pg.StatusExpired && cur.Status != pg.StatusWaitingForDeposit {
				target = pg.StatusFailed
			}
			if changed, evs, err := p.failedChange(ctx, tx, target, "PG_"+string(news.Status), "reported by the PG's notification")(cur); err != nil {
				return false, nil, err
			} else if changed {
				events = append(events, evs...)
			}
		}
		return true, events, nil
	})
	if err != nil {
		return err
	}
	// The payment saga may be waiting out its lookup backoff for exactly
	// this news (an unknown outcome, a virtual account's deposit): run it
	// now rather than at its next scheduled lookup.
	return p.runner.Wake(ctx, tx, paymentSagaName, pay.ID)
}

func (p *Paygate) paymentForWebhook(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) (*store.Payment, error) {
	key := ev.PaymentKey
	if key == "" && ev.Payment != nil {
		key = ev.Payment.PaymentKey
	}
	if key != "" {
		pay, err := p.db.PaymentByKey(ctx, tx, ev.PG, key)
		if !errors.Is(err, store.ErrNotFound) {
			return pay, err
		}
	}
	if ev.OrderID == "" {
		return nil, store.ErrNotFound
	}
	if id, err := p.db.OrderPayment(ctx, tx, ev.OrderID); err == nil {
		pay, err := p.db.PaymentByID(ctx, tx, id)
		if err != nil || pay.PG != ev.PG {
			return nil, errors.Join(store.ErrNotFound, err)
		}
		return pay, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	ps, err := p.db.PaymentsByOrder(ctx, tx, ev.OrderID)
	if err != nil {
		return nil, err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].PG == ev.PG {
			return ps[i], nil
		}
	}
	return nil, store.ErrNotFound
}

// syncCancels brings the payment's canceled amount up to what the PG
// reports. A difference equal to one of our pending cancels completes that
// cancel (its answer was lost); any other difference is a cancel made at the
// PG directly and is recorded as such.
func (p *Paygate) syncCancels(ctx context.Context, tx *sql.Tx, pay *store.Payment, news *pg.Payment) ([]eventSpec, error) {
	if !pay.Status.Captured() && !lateCaptured(pay) {
		return nil, nil
	}
	pgCanceled, err := pgCanceledAmount(news)
	if err != nil || !pgCanceled.IsSet() {
		return nil, err
	}
	ours := pay.CanceledAmount
	if !ours.IsSet() {
		ours = zeroOf(pay.Amount)
	}
	diff, err := pgCanceled.Sub(ours)
	if err != nil || !diff.IsPositive() {
		return nil, nil // nothing new, or ours is ahead (a later webhook will tell)
	}
	var c *store.Cancel
	if pending, err := p.pendingCancel(ctx, tx, pay.ID); err != nil {
		return nil, err
	} else if pending != nil && pending.Amount.Equal(diff) {
		c = pending
		c.Status = store.CancelDone
		if err := p.db.UpdateCancel(ctx, tx, c, c.Version); err != nil {
			return nil, err
		}
		if err := p.runner.Wake(ctx, tx, refundSagaName, c.ID); err != nil {
			return nil, err
		}
	} else {
		c = &store.Cancel{
			ID: store.NewCancelID(), PaymentID: pay.ID, Amount: diff, Reason: "CANCELED_AT_PG", Status: store.CancelDone,
			IdempotencyKey: "pg:" + pay.ID + ":" + pgCanceled.Amount().String(),
		}
		if err := p.db.InsertCancel(ctx, tx, c); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return nil, nil
			}
			return nil, err
		}
	}
	_, evs, err := p.addCanceled(pay, c)
	return evs, err
}

// pgCanceledAmount is the total the PG reports canceled.
func pgCanceledAmount(news *pg.Payment) (pg.Money, error) {
	if news.Amount.IsSet() && news.Balance.IsSet() {
		return news.Amount.Sub(news.Balance)
	}
	if len(news.Cancels) > 0 {
		total := news.Cancels[0].Amount
		for _, c := range news.Cancels[1:] {
			var err error
			if total, err = total.Add(c.Amount); err != nil {
				return pg.Money{}, err
			}
		}
		return total, nil
	}
	if news.Status == pg.StatusCanceled && news.Amount.IsSet() {
		return news.Amount, nil
	}
	return pg.Money{}, nil
}

// WebhookSecret returns the per-payment secret a PG gave at approval (Toss)
// for verifying its notifications; hand it to webhook.Config.Secret.
func (p *Paygate) WebhookSecret(ctx context.Context, pgName, paymentKey, orderID string) (string, bool) {
	var pay *store.Payment
	var err error
	if paymentKey != "" {
		pay, err = p.db.PaymentByKey(ctx, p.db.SQL(), pgName, paymentKey)
	} else if orderID != "" {
		var id string
		if id, err = p.db.OrderPayment(ctx, p.db.SQL(), orderID); err == nil {
			pay, err = p.db.PaymentByID(ctx, p.db.SQL(), id)
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
